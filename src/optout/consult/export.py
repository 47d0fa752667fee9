"""The nightly export: the list as csv, jsonl, txt or sha256, streamed and written atomically.

Rows come from the database in batches (memory stays flat whatever the list's size). A file is
written to a temporary name in the same folder, fsynced and renamed over the target, so a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import operator
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection

from optout.store.bulk import stamp

__all__ = ["FORMATS", "Scope", "atomic_write", "dated_name", "export", "publish", "stamp"]
from optout.clock import utcnow

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


def export(conn: Connection, stream: IO[str], *, fmt: str, scope: Scope,
           tick: Callable[[int], None] = lambda n: None) -> int:
    """Write the entries in scope to ``stream`` in ``fmt``; returns how many rows went out."""
    if fmt == "csv":
        return _write_csv(stream, _stream(conn, *_query(conn, scope, csv=True)), tick)
    count = 0
    for row in _stream(conn, *_query(conn, scope, csv=False)):
        line = _line(row, fmt, scope)
        if line is not None:
            stream.write(line)
            count += 1
            if count % BATCH == 0:
                tick(BATCH)
    tick(count % BATCH)
    return count


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
        pg_sql = re.sub(r"(?<![\w:]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))  # :name -> %(name)s
        cursor.execute(pg_sql, params)
    try:
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()  # however the consumer stops


def _query(conn: Connection, scope: Scope, *, csv: bool) -> tuple[str, dict[str, Any]]:
    """The SELECT for a scope: one column per field, or (csv) one finished CSV line per row."""
    dialect = conn.dialect.name
    now = utcnow()
    cutoff = now - timedelta(days=scope.expire_days) if scope.expire_days else None
    fields = _fields(dialect, expiring=cutoff is not None)
    if csv:
        fields = [_csv_field(dialect, expr, name) for name, expr in zip(COLUMNS, fields)]
        select = "SELECT " + " || ',' || ".join(fields) + " FROM entry WHERE "
    else:
        select = "SELECT " + ", ".join(fields) + " FROM entry WHERE "
    where, params = _where(dialect, scope, cutoff, now)
    return select + where + " ORDER BY id", params  # table order: a scan, not an index walk


def _fields(dialect: str, *, expiring: bool) -> list[str]:
    """SQL for each of COLUMNS: times as ISO 8601 UTC, verified as true/false, expiry marked."""
    status = "CASE WHEN status = 'listed' AND last_seen < :cutoff THEN 'expired' ELSE status END" if expiring else "status"
    return ["kind", "value", "buyer_email", "order_ids", "marketplace", status, _iso_sql(dialect, "first_seen"),
            _iso_sql(dialect, "last_seen"), "report_count", "CASE WHEN verified THEN 'true' ELSE 'false' END",
            _iso_sql(dialect, "removed_at"), "removed_reason"]


def _iso_sql(dialect: str, column: str) -> str:
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff': cut, cheaper than strftime
        return f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || 'Z'"
    return f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


_FREE_TEXT = ("value", "buyer_email", "removed_reason")  # text a person or a sender chose
_NULLABLE = ("buyer_email", "order_ids", "marketplace", "removed_at", "removed_reason")


def _csv_field(dialect: str, expr: str, name: str) -> str:
    """A field as it goes into a CSV line: NULL as empty; free text neutralised for spreadsheets
    (a leading = + - @ tab or CR gets an apostrophe); a reason quoted as RFC 4180 wants.
    (Addresses need no quoting: normalised addresses hold no comma, quote or line break.)"""
    if name in _FREE_TEXT:
        char, find = ("char", "instr") if dialect == "sqlite" else ("chr", "strpos")
        formula = f"{find}('=+-@' || {char}(9) || {char}(13), substr({expr}, 1, 1)) > 0"
        expr = f"(CASE WHEN {formula} THEN '''' || {expr} ELSE {expr} END)"
        if name == "removed_reason":
            special = " OR ".join(f"{find}({expr}, {c}) > 0" for c in ("','", "'\"'", f"{char}(10)", f"{char}(13)"))
            expr = f"(CASE WHEN {special} THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END)"
    return f"COALESCE({expr}, '')" if name in _NULLABLE else f"({expr})"


def _where(dialect: str, scope: Scope, cutoff: datetime | None, now: datetime) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    if cutoff:
        params["cutoff"] = cutoff
    if scope.since is None:
        # no index on status (most entries are listed): a scan in id order, which ORDER BY id
        # then needs no sort for
        where = "status = 'listed'"
        if cutoff:
            where += " AND last_seen >= :cutoff"
        return where, params
    params["since"] = scope.since
    if not cutoff:
        return "updated_at >= :since", params
    # entries that expired since then changed too, without being touched
    params["expired_from"] = scope.since - (now - cutoff)
    return "(updated_at >= :since OR (status = 'listed' AND last_seen < :cutoff AND last_seen >= :expired_from))", params


_first = operator.itemgetter(0)


def _write_csv(stream: IO[str], lines: Iterator[tuple[str]], tick: Callable[[int], None]) -> int:
    """The header, then the lines the database built, one write per batch."""
    stream.write(",".join(COLUMNS) + "\n")
    count = 0
    while batch := list(itertools.islice(lines, BATCH)):
        stream.write("\n".join(map(_first, batch)) + "\n")
        count += len(batch)
        tick(len(batch))
    return count


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
