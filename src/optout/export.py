"""The nightly export: the list as csv, jsonl, txt or sha256, streamed and written atomically.

Rows come from the database in batches (memory stays flat whatever the list's size). A file is
written to a temporary name in the same folder, fsynced and renamed over the target, so a reader
sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, text

from optout.lookup import iso
from optout.models import utcnow

FORMATS = ("csv", "jsonl", "txt", "sha256")
COLUMNS = ["kind", "value", "buyer_email", "order_ids", "marketplace", "status", "first_seen",
           "last_seen", "reports", "verified", "removed_at", "removed_reason"]
BATCH = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(slots=True)
class Scope:
    """Which entries: all listed ones, or (``since``) every change after a time, removals too."""

    since: datetime | None = None
    expire_days: int | None = None
    removed: bool = False  # txt/sha256 with since: the removed list instead of the listed one


def rows(conn: Connection, scope: Scope) -> Iterator[dict[str, Any]]:
    """The entries in scope, in value order, with their status as a consumer should apply it."""
    now = utcnow()
    cutoff = now - timedelta(days=scope.expire_days) if scope.expire_days else None
    sql, params = _query(scope, cutoff, now)
    query = text(sql).execution_options(stream_results=True, yield_per=BATCH)  # this statement only
    cutoff_text = iso(cutoff)
    with conn.execute(query, params) as result:  # closes the server-side cursor however we stop
        yield from _shaped(result, cutoff_text)


def _shaped(result: Any, cutoff_text: str | None) -> Iterator[dict[str, Any]]:
    for partition in result.partitions(BATCH):
        for row in partition:
            status = row[5]
            if cutoff_text and status == "listed" and iso(row[7]) < cutoff_text:  # type: ignore[operator]
                status = "expired"
            yield {
                "kind": row[0], "value": row[1], "buyer_email": row[2], "order_ids": row[3],
                "marketplace": row[4], "status": status, "first_seen": iso(row[6]),
                "last_seen": iso(row[7]), "reports": row[8], "verified": bool(row[9]),
                "removed_at": iso(row[10]), "removed_reason": row[11],
            }


def _query(scope: Scope, cutoff: datetime | None, now: datetime) -> tuple[str, dict[str, Any]]:
    select = ("SELECT kind, value, buyer_email, order_ids, marketplace, status, first_seen, last_seen, "
              "report_count, verified, removed_at, removed_reason FROM entry WHERE ")
    params: dict[str, Any] = {}
    if scope.since is None:
        where = "status = 'listed'"
        if cutoff:
            where += " AND last_seen >= :cutoff"
            params["cutoff"] = cutoff
    else:
        where = "updated_at >= :since"
        params["since"] = scope.since
        if cutoff:  # entries that expired since then changed too, without being touched
            where = f"({where} OR (status = 'listed' AND last_seen < :cutoff AND last_seen >= :expired_from))"
            params["cutoff"] = cutoff
            params["expired_from"] = scope.since - (now - cutoff)
    return select + where + " ORDER BY value", params


def neutralise(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write(stream: IO[str], entries: Iterator[dict[str, Any]], fmt: str, scope: Scope,
          tick: Callable[[int], None] = lambda n: None) -> int:
    """Write entries in ``fmt``; returns how many rows went out."""
    count = 0
    writer = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
    if writer:
        writer.writerow(COLUMNS)
    for row in entries:
        line = _line(row, fmt, scope, writer)
        if line is None:
            continue
        if line:
            stream.write(line)
        count += 1
        if count % BATCH == 0:
            tick(BATCH)
    tick(count % BATCH)
    return count


def _line(row: dict[str, Any], fmt: str, scope: Scope, writer: Any) -> str | None:
    if writer is not None:
        writer.writerow([neutralise(row[c]) for c in COLUMNS])
        return ""
    if fmt == "jsonl":
        return json.dumps(row, ensure_ascii=False) + "\n"
    wanted = "removed" if scope.removed else "listed"
    if (row["status"] == "listed") != (wanted == "listed"):
        return None  # txt and sha256 carry one list: listed, or (with --removed) taken off
    if fmt == "txt":
        return row["value"] + "\n"
    if row["kind"] != "email":
        return None  # sha256 is for addresses only: partners match hashed addresses
    return hashlib.sha256(row["value"].strip().lower().encode()).hexdigest() + "\n"


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
