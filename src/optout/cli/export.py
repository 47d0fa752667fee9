"""``optout export`` (the nightly file for sending systems) and ``optout purge`` (retention)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO, Annotated

import typer

from optout.cli.output import (
    JsonOption,
    QuietOption,
    counter,
    emit_json,
    guarded,
    reading,
    settings,
    transaction,
)


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    txt = "txt"
    sha256 = "sha256"


def _since(value: str | None) -> datetime | None:
    from optout.errors import OptoutError

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OptoutError(f"--since wants an ISO 8601 time such as 2026-11-01T00:00:00Z, not {value!r}") from None
    if parsed.tzinfo:
        from datetime import timezone

        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@guarded
def export(
    format_: Annotated[ExportFormat, typer.Option("--format", help="csv, jsonl, txt or sha256.")] = ExportFormat.csv,
    output: Annotated[str | None, typer.Option("--output", "-o", help="File to write, or - for stdout.")] = None,
    output_dir: Annotated[Path | None, typer.Option("--output-dir", help="Folder for dated files, a .sha256 each and a latest link.")] = None,
    since: Annotated[str | None, typer.Option(help="Only changes since this time (UTC), removals included.")] = None,
    removed: Annotated[bool, typer.Option("--removed", help="txt/sha256 with --since: the removed list.")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the list for the systems that send mail, atomically."""
    fmt = format_.value
    from optout.clock import utcnow
    from optout.consult import export as exporter
    from optout.errors import OptoutError
    from optout.store import sql

    if (output is None) == (output_dir is None):
        raise OptoutError("give --output PATH (or -) or --output-dir DIR")
    if removed and not since:
        raise OptoutError("--removed lists what was removed since a time: give --since too")
    cfg = settings()
    scope = exporter.Scope(since=_since(since), expire_days=cfg.expire_days, removed=removed)
    started = utcnow()
    clock = time.perf_counter()
    # Read in a read-only transaction (a consistent snapshot that never holds the write lock
    # the listener needs), then record the run in a short transaction of its own.
    with reading(cfg) as conn, counter(quiet, "exporting") as tick:
        def produce(stream: IO[str]) -> int:
            return exporter.export(conn, stream, fmt=fmt, scope=scope, tick=tick)

        if output == "-":
            count, digest, path = produce(sys.stdout), None, None
        else:
            target = Path(output) if output else None
            if output_dir is not None:  # exactly one of the two was given (checked above)
                target = output_dir / exporter.dated_name(fmt, started)
            assert target is not None
            count, digest = exporter.atomic_write(target, produce)
            if output_dir is not None:
                exporter.publish(output_dir, target, digest, fmt=fmt, keep=cfg.export_keep)
            path = str(target)
    with transaction(cfg) as conn:
        # plain SQL: the table classes (SQLModel) cost a third of a second to import
        at = exporter.stamp(started) if conn.dialect.name == "sqlite" else started
        conn.exec_driver_sql(sql.marks(sql.EXPORT_RUN, conn.dialect.name), (at, fmt, count, digest or "", path))
    summary = {"format": fmt, "rows": count, "path": path, "sha256": digest,
               "seconds": round(time.perf_counter() - clock, 3)}
    if output == "-":  # stdout carries the export: the summary goes to stderr, as the README's rule says
        if as_json:
            typer.echo(json.dumps(summary), err=True)
        elif not quiet:
            typer.echo(f"{count} rows to standard output", err=True)
    elif as_json:
        emit_json(summary)
    elif not quiet:
        typer.echo(f"{count} rows to {path} (sha256 {digest})")


@guarded
def purge(
    raw_older_than: Annotated[int | None, typer.Option("--raw-older-than", min=1, help="Days; default: setting raw_retention_days.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Drop stored raw messages past the retention period (the evidence rows stay), and
    sign-in sessions that have ended."""
    from datetime import timedelta

    from sqlalchemy import update

    from optout.record import signin
    from optout.store.models import Message, table, utcnow

    cfg = settings()
    days = raw_older_than or cfg.raw_retention_days
    message = table(Message)
    cutoff = utcnow() - timedelta(days=days)
    with transaction(cfg) as conn:
        purged = conn.execute(update(message).where(message.c.received_at < cutoff, message.c.raw.is_not(None))
                              .values(raw=None)).rowcount
        sessions = signin.purge_sessions(conn)
    if as_json:
        emit_json({"purged": purged, "older_than_days": days, "sessions_purged": sessions})
    else:
        typer.echo(f"purged the raw bytes of {purged} message(s) older than {days} days, and {sessions} ended sign-in session(s)")
