"""``optout parse`` (what is this mail?) and ``optout ingest`` (backfill from a mailbox export)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from optout.cli.output import (
    JsonOption,
    QuietOption,
    emit_json,
    guarded,
    progress,
    settings,
    table,
)

PathsArg = Annotated[list[str], typer.Argument(help=".eml files, mbox files, Maildirs, folders; - for stdin.")]
KEYS = ("source", "kind", "order_id", "buyer_email", "marketplace", "language",
        "confirmation_code", "forwarded_by", "how", "part", "reason")


def _rows(source: str, result: Any) -> list[dict[str, Any]]:
    """One row per notice the mail carries (``backlog.eml#3`` for its third, where it carries
    several), or one row for a mail that is no notice."""
    found = result.notices() or [result]
    return [{key: (f"{source}#{number}" if len(found) > 1 else source) if key == "source" else data[key]
             for key in KEYS}
            for number, data in enumerate((notice.public() for notice in found), 1)]


@guarded
def parse(paths: PathsArg, as_json: JsonOption = False) -> None:
    """Say what each message is and why, without touching the database."""
    from optout.recognise import parse as recognise
    from optout.record.sources import messages

    rows = []
    for source, raw in messages(paths):
        for row in _rows(source, recognise(raw)):
            if as_json:
                emit_json(row)
            else:
                rows.append(row)
    if not as_json:
        table(rows, ["source", "kind", "order_id", "buyer_email", "how", "reason"])


@guarded
def ingest(
    paths: PathsArg,
    account: Annotated[str, typer.Option("--account", help="The seller account these came to.")],
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Apply past notices from a mailbox export to the list. Safe to run again."""
    from optout.record import backfill
    from optout.store.db import engine

    cfg = settings()
    eng = engine(cfg)
    try:
        summary = backfill.run(eng, cfg, paths=paths, slug=account,
                               wrap=lambda items: progress(items, label="ingesting", quiet=quiet))
    finally:
        eng.dispose()
    if as_json:
        emit_json(summary)
    elif not quiet:
        typer.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))
