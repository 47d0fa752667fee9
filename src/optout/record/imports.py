"""Bulk-load an existing blacklist: one identifier a line, or a CSV column from another tool."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Connection, Engine

from optout.errors import OptoutError
from optout.identifiers import marketplace_of, parse_query
from optout.record.entries import ENTRY_COLUMNS
from optout.store import bulk, sql
from optout.store.models import ImportRun, table, utcnow

IMPORT_RUN = table(ImportRun)

BATCH = 20_000


@dataclass(slots=True)
class ImportResult:
    read: int = 0
    listed: int = 0  # entries this import listed, relisted, or now also supports
    already: int = 0  # identifiers an earlier import already supports (or repeated in the file)
    bad: list[str] = field(default_factory=list)  # "line N: why"


def values(stream: TextIO, *, fmt: str, column: str | None) -> Iterator[tuple[int, str]]:
    """(line number, raw value) from a txt or csv file; blank lines and # comments skipped."""
    if fmt == "txt":
        for number, line in enumerate(stream, 1):
            text = line.strip()
            if text and not text.startswith("#"):
                yield number, text
        return
    reader = csv.reader(stream)
    with csv_errors(reader):
        header = next(reader, None) or []
        wanted = column or next((h for h in header if h.strip().lower() in ("email", "address", "order_id", "value")), None)
        if wanted not in header:
            raise OptoutError(f"no column {column or 'email/address/order_id'!r} in the CSV header")
        index = header.index(wanted)
        for row in reader:
            if index < len(row) and row[index].strip():
                yield reader.line_num, row[index]


@contextmanager
def csv_errors(reader: Any) -> Iterator[None]:
    """A malformed CSV (a field over the csv module's size limit, a NUL, a broken quote) as one
    line naming where; the csv reader cannot go on past one."""
    try:
        yield
    except csv.Error as exc:
        raise OptoutError(f"CSV line {reader.line_num}: {exc}") from None


def run(
    eng: Engine, stream: TextIO, *, fmt: str, column: str | None, reason: str, source: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> ImportResult:
    """Import in batches of BATCH rows, all in one transaction: a file that fails part way
    (unreadable, not UTF-8, a broken CSV) leaves nothing behind, not even its import run. Bad
    lines are reported and skipped, not fatal.

    The evidence is one import run (when, from where, why), not a report per row: an import is
    one act, and per-row evidence would cost more than the entries themselves.
    """
    with eng.begin() as conn:
        result = _run(conn, stream, fmt=fmt, column=column, reason=reason, source=source, on_batch=on_batch)
    if result.listed and eng.dialect.name == "postgresql":
        # Where autovacuum is off or has not come yet, PostgreSQL would go on planning for the
        # list as it was before: a lookup planned on a small list reads the whole table.
        with eng.begin() as conn:
            conn.exec_driver_sql(sql.ANALYZE_ENTRY)
    return result


def _run(conn: Connection, stream: TextIO, *, fmt: str, column: str | None, reason: str, source: str,
         on_batch: Callable[[int], None]) -> ImportResult:
    result = ImportResult()
    now = utcnow()
    run_id = conn.execute(IMPORT_RUN.insert().values(at=now, source=source, reason=reason, rows=0)
                          .returning(IMPORT_RUN.c.id)).scalar_one()
    batch: dict[str, str] = {}  # value -> kind, first occurrence wins
    for number, raw in values(stream, fmt=fmt, column=column):
        result.read += 1
        try:
            query = parse_query(raw)
        except OptoutError as exc:
            result.bad.append(f"line {number}: {exc}")
            continue
        if query.value in batch:
            result.already += 1
            continue
        batch[query.value] = query.kind
        if len(batch) >= BATCH:
            _flush(conn, batch, run_id, now, result)
            on_batch(len(batch))
            batch = {}
    if batch:
        _flush(conn, batch, run_id, now, result)
        on_batch(len(batch))
    conn.execute(IMPORT_RUN.update().where(IMPORT_RUN.c.id == run_id).values(rows=result.listed))
    return result


COLUMNS = (*ENTRY_COLUMNS, "imported_by")


def _flush(conn: Connection, batch: dict[str, str], run_id: int, now: datetime, result: ImportResult) -> None:
    rows = [(kind, value, value if kind == "email" else None, None, marketplace_of(value), "listed",
             now, now, 1, False, now, run_id) for value, kind in sorted(batch.items())]
    with bulk.pipeline(conn):  # PostgreSQL: its statements go out without waiting for each other
        changed = bulk.insert(conn, table="entry", columns=COLUMNS, rows=rows, tail=sql.IMPORT_UPSERT, returning="value")
    result.listed += len(changed)
    result.already += len(rows) - len(changed)
