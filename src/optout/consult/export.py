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
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection

from optout.store import export_sql
from optout.store.bulk import stamp

__all__ = ["FORMATS", "Scope", "atomic_write", "dated_name", "export", "publish", "stamp"]

FORMATS = ("csv", "jsonl", "txt", "sha256")
COLUMNS = export_sql.COLUMNS
BATCH = export_sql.BATCH


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
        return _write_csv(stream, export_sql.rows(conn, *export_sql.query(conn, since=scope.since, expire_days=scope.expire_days, csv=True)), tick)
    count = 0
    for row in export_sql.rows(conn, *export_sql.query(conn, since=scope.since, expire_days=scope.expire_days, csv=False)):
        line = _line(row, fmt, scope)
        if line is not None:
            stream.write(line)
            count += 1
            if count % BATCH == 0:
                tick(BATCH)
    tick(count % BATCH)
    return count


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
    kind, value, status = str(row[0]), str(row[1]), row[5]
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
            count = produce(cast(IO[str], hashing))  # it writes text, which is all produce does
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

    def write(self, data: str) -> int:
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
