"""The nightly export: the list as csv, jsonl, txt or sha256, streamed and written atomically.

Rows come from the database in batches (memory stays flat whatever the list's size). A file is
written to a temporary name in the same folder, fsynced and renamed over the target, so a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection

from optout.bulk import stamp
from optout.models import utcnow

FORMATS = ("csv", "jsonl", "txt", "sha256")
COLUMNS = ["kind", "value", "buyer_email", "order_ids", "marketplace", "status", "first_seen",
           "last_seen", "reports", "verified", "removed_at", "removed_reason"]
BATCH = 10_000


@dataclass(slots=True)
class Scope:
    """Which entries: all listed ones, or (``since``) every change after a time, removals too."""

    since: datetime | None = None
    expire_days: int | None = None
    removed: bool = False  # txt/sha256 with since: the removed list instead of the listed one


def rows(conn: Connection, scope: Scope, *, spreadsheet_safe: bool = False) -> Iterator[tuple[Any, ...]]:
    """The entries in scope as tuples in COLUMNS order (oldest entry first), shaped by the
    database (times as ISO 8601 UTC, verified as true/false, expired entries marked, and with
    ``spreadsheet_safe`` formula-like text neutralised) so Python only streams them."""
    now = utcnow()
    cutoff = now - timedelta(days=scope.expire_days) if scope.expire_days else None
    sql, params = _query(conn.dialect.name, scope, cutoff, now, safe=spreadsheet_safe)
    yield from _stream(conn, sql, params)


def _stream(conn: Connection, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Rows straight from the driver's cursor (SQLAlchemy's Row wrapping costs more than the
    CSV writer): fetchmany on SQLite, a named server-side cursor on PostgreSQL."""
    driver = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        cursor = driver.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, {k: stamp(v) for k, v in params.items()})
    else:
        cursor = driver.cursor(name="optout_export")  # type: ignore[union-attr]
        cursor.itersize = BATCH
        cursor.execute(re.sub(r"(?<![\w:]):(\w+)", r"%(\1)s", sql), params)  # :name -> %(name)s
    try:
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()  # however the consumer stops


def _iso_sql(dialect: str, column: str) -> str:
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff': cut, cheaper than strftime
        return f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || 'Z'"
    return f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _safe_sql(dialect: str, column: str, *, safe: bool) -> str:
    """The column, with a leading apostrophe where a spreadsheet would take it for a formula."""
    if not safe:
        return column
    char = "char" if dialect == "sqlite" else "chr"
    starts = f"('=', '+', '-', '@', {char}(9), {char}(13))"
    return f"CASE WHEN substr({column}, 1, 1) IN {starts} THEN '''' || {column} ELSE {column} END"


def _query(dialect: str, scope: Scope, cutoff: datetime | None, now: datetime, *,
           safe: bool = False) -> tuple[str, dict[str, Any]]:
    status = "CASE WHEN status = 'listed' AND last_seen < :cutoff THEN 'expired' ELSE status END" if cutoff else "status"
    select = (f"SELECT kind, {_safe_sql(dialect, 'value', safe=safe)}, "
              f"{_safe_sql(dialect, 'buyer_email', safe=safe)}, order_ids, marketplace, {status}, "
              f"{_iso_sql(dialect, 'first_seen')}, {_iso_sql(dialect, 'last_seen')}, report_count, "
              f"CASE WHEN verified THEN 'true' ELSE 'false' END, {_iso_sql(dialect, 'removed_at')}, "
              f"{_safe_sql(dialect, 'removed_reason', safe=safe)} FROM entry WHERE ")
    params: dict[str, Any] = {}
    if cutoff:
        params["cutoff"] = cutoff
    if scope.since is None:
        where = "status = 'listed'"
        if cutoff:
            where += " AND last_seen >= :cutoff"
    else:
        where = "updated_at >= :since"
        params["since"] = scope.since
        if cutoff:  # entries that expired since then changed too, without being touched
            where = f"({where} OR (status = 'listed' AND last_seen < :cutoff AND last_seen >= :expired_from))"
            params["expired_from"] = scope.since - (now - cutoff)
    return select + where + " ORDER BY id", params  # table order: a scan, not an index walk


def write(stream: IO[str], entries: Iterator[tuple[Any, ...]], fmt: str, scope: Scope,
          tick: Callable[[int], None] = lambda n: None) -> int:
    """Write entries in ``fmt``; returns how many rows went out."""
    if fmt == "csv":
        return _csv(stream, entries, tick)
    count = 0
    for row in entries:
        line = _line(row, fmt, scope)
        if line is None:
            continue
        stream.write(line)
        count += 1
        if count % BATCH == 0:
            tick(BATCH)
    tick(count % BATCH)
    return count


def _csv(stream: IO[str], entries: Iterator[tuple[Any, ...]], tick: Callable[[int], None]) -> int:
    """CSV in batches: rows go to a buffer in C, and the stream sees one write per batch.
    (Formula neutralising is done by the query: see ``rows(spreadsheet_safe=True)``.)"""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    while batch := list(itertools.islice(entries, BATCH)):
        count += _flush(stream, buffer, writer, batch, tick)
    if not count:
        stream.write(buffer.getvalue())  # the header alone
    return count


def _flush(stream: IO[str], buffer: io.StringIO, writer: Any, batch: list[tuple[Any, ...]],
           tick: Callable[[int], None]) -> int:
    writer.writerows(batch)
    stream.write(buffer.getvalue())
    buffer.seek(0)
    buffer.truncate()
    done = len(batch)
    batch.clear()
    tick(done)
    return done


def _line(row: tuple[Any, ...], fmt: str, scope: Scope) -> str | None:
    kind, value, status = row[0], row[1], row[5]
    if fmt == "jsonl":
        record = dict(zip(COLUMNS, row))
        record["verified"] = record["verified"] == "true"
        return json.dumps(record, ensure_ascii=False) + "\n"
    if (status == "listed") == scope.removed:
        return None  # txt and sha256 carry one list: listed, or (with --removed) taken off
    if fmt == "txt":
        return value + "\n"
    if kind != "email":
        return None  # sha256 is for addresses only: partners match hashed addresses
    return hashlib.sha256(value.strip().lower().encode()).hexdigest() + "\n"


def atomic_write(path: Path, produce: Callable[[IO[str]], int]) -> tuple[int, str]:
    """Run ``produce`` into a temporary file beside ``path`` and rename it into place.

    Returns (rows, SHA-256 of the file). On any failure the temporary file is removed and the
    previous file at ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=path.parent,
                                         prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            hashing = _HashingWriter(handle)
            count = produce(hashing)  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # readable as a plain file would be, not 0600
        os.replace(handle.name, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count, hashing.hexdigest()


class _HashingWriter(io.TextIOBase):
    """A text stream that hashes what passes through it on the way to the file."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, data: str) -> int:  # type: ignore[override]
        self.digest.update(data.encode("utf-8"))
        return self.target.write(data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


EXTENSIONS = {"csv": "csv", "jsonl": "jsonl", "txt": "txt", "sha256": "sha256.txt"}


def dated_name(fmt: str, when: datetime) -> str:
    return f"optout-{when:%Y%m%d-%H%M%S}.{EXTENSIONS[fmt]}"


def publish(folder: Path, target: Path, digest: str, *, fmt: str, keep: int) -> None:
    """Beside a dated export: its ``.sha256`` file, the ``latest`` link, and old ones pruned."""
    def checksum_line(out: IO[str]) -> int:
        out.write(f"{digest}  {target.name}\n")  # the format sha256sum -c reads
        return 1

    atomic_write(target.with_name(target.name + ".sha256"), checksum_line)
    link = folder / f"latest.{EXTENSIONS[fmt]}"
    temp_link = folder / f".latest.{EXTENSIONS[fmt]}.tmp"
    temp_link.unlink(missing_ok=True)
    temp_link.symlink_to(target.name)
    os.replace(temp_link, link)  # the link moves in one step, like the files
    dated = sorted(p for p in folder.glob(f"optout-*.{EXTENSIONS[fmt]}") if p.is_file())
    for old in dated[:-keep]:
        old.unlink()
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)
