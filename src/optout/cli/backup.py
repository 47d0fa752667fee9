"""``optout backup`` and ``optout restore``: the whole deployment in one file, and back."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from optout.cli.output import JsonOption, QuietOption, counter, emit_json, guarded, settings


@guarded
def backup(
    file: Annotated[str, typer.Argument(help="Where to write the backup; - for stdout.")],
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write a consistent snapshot of everything while optout keeps running: entries and their
    evidence, accounts, API keys (hashes), wordings, messages, export runs."""
    from pathlib import Path

    from optout.store import snapshot

    cfg = settings()
    with counter(quiet, "rows") as advance:
        if file == "-":
            rows = snapshot.take(cfg, sys.stdout.buffer, advance=advance)
        else:
            partial = Path(file + ".partial")  # a backup cut short never stands under the real name
            try:
                # readable by its owner alone: it holds API key hashes and raw mail
                with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
                    rows = snapshot.take(cfg, out, advance=advance)
                partial.replace(file)
            finally:
                partial.unlink(missing_ok=True)
    summary = {"file": file, "rows": sum(rows.values()), "tables": rows}
    if as_json:
        emit_json(summary)
    elif not quiet:
        typer.echo(f"backed up {summary['rows']} rows of {len(rows)} tables to {file}", err=file == "-")


@guarded
def restore(
    file: Annotated[str, typer.Argument(help="A backup written by optout backup.")],
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into the configured database, which must be new or empty (SQLite or
    PostgreSQL, whichever the backup came from). The checksum is checked first."""
    from optout.store import db, snapshot

    cfg = settings()
    with counter(quiet, "rows") as advance:
        head = snapshot.restore(cfg, file, advance=advance)
    rows = head["rows"]
    summary = {"file": file, "schema": head["schema"], "from": head["engine"], "rows": sum(rows.values()),
               "database": db.redact(cfg.url)}
    if as_json:
        emit_json(summary)
    elif not quiet:
        typer.echo(f"restored {summary['rows']} rows (schema {head['schema']}, taken on {head['engine']}) "
                   f"into {summary['database']}")
