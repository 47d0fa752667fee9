"""``optout add``, ``remove`` and ``import``: the list by hand and in bulk."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from optout.cli.output import (
    JsonOption,
    QuietOption,
    counter,
    emit_json,
    guarded,
    say,
    settings,
    transaction,
)


class ListFormat(str, Enum):
    txt = "txt"
    csv = "csv"


ReasonOption = Annotated[str, typer.Option("--reason", help="Why; kept in the entry's history.")]


@guarded
def add(
    query: Annotated[str, typer.Argument(help="A buyer address or an order ID.")],
    reason: ReasonOption,
    account: Annotated[str | None, typer.Option("--account", help="Account this is on behalf of.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Put a buyer or an order on the list by hand."""
    from optout.identifiers import parse_query
    from optout.record import accounts, entries

    parsed = parse_query(query)
    with transaction(settings()) as conn:
        account_id = accounts.get(conn, slug=account)["id"] if account else None
        new = entries.add_by_hand(conn, query=parsed, reason=reason, account_id=account_id, actor=account or "manual")
    outcome = {"query": parsed.value, "listed": True, "new": new}
    say(outcome, f"{parsed.value}\tlisted{' (new)' if new else ' (already listed)'}", as_json=as_json)


@guarded
def remove(
    query: Annotated[str, typer.Argument(help="A buyer address or an order ID.")],
    reason: ReasonOption,
    as_json: JsonOption = False,
) -> None:
    """Take a buyer or an order off the list; the entry and its history are kept."""
    from optout.errors import OptoutError
    from optout.identifiers import parse_query
    from optout.record import entries

    parsed = parse_query(query)
    with transaction(settings()) as conn:
        if not entries.remove(conn, query=parsed, reason=reason, actor="manual"):
            raise OptoutError(f"{parsed.value} is not listed")
    say({"query": parsed.value, "listed": False}, f"{parsed.value}\tremoved", as_json=as_json)


@guarded
def import_(
    path: Annotated[Path, typer.Argument(help="File to import; - reads stdin.", allow_dash=True)],
    format_: Annotated[ListFormat | None, typer.Option("--format", help="txt (one a line) or csv; default: by the file's name.")] = None,
    column: Annotated[str | None, typer.Option(help="CSV column with the address or order ID.")] = None,
    reason: Annotated[str, typer.Option(help="Why these are listed.")] = "imported",
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Bulk-load an existing blacklist. Idempotent; bad lines are reported and skipped."""
    from optout.errors import OptoutError
    from optout.record import imports
    from optout.store.db import bulk_writer

    fmt = format_.value if format_ else ("csv" if path.suffix.lower() == ".csv" or column else "txt")
    cfg = settings()
    stream = sys.stdin if str(path) == "-" else path.open(encoding="utf-8-sig", newline="")
    eng = bulk_writer(cfg)  # an import is idempotent: after a power cut, run it again
    try:
        with counter(quiet, "importing") as advance:
            result = imports.run(eng, stream, fmt=fmt, column=column, reason=reason, source=str(path),
                                 on_batch=advance)
    except UnicodeDecodeError as exc:
        raise OptoutError(f"{path} is not UTF-8 text ({exc.reason})") from None
    finally:
        eng.dispose()
        if stream is not sys.stdin:
            stream.close()
    for line in result.bad:
        typer.echo(f"optout: skipped {line}", err=True)
    summary = {"read": result.read, "listed": result.listed, "already": result.already,
               "bad_lines": len(result.bad)}
    if as_json:
        emit_json(summary)
    elif not quiet:
        typer.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))

