"""Bulk-load an existing blacklist: one identifier a line, or a CSV column from another tool."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from sqlalchemy import Engine

from optout.entries import NewReport, record
from optout.errors import OptoutError
from optout.identifiers import parse_query
from optout.models import utcnow

BATCH = 20_000


@dataclass(slots=True)
class ImportResult:
    read: int = 0
    new_reports: int = 0
    duplicates: int = 0
    new_entries: int = 0
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
    header = next(reader, None) or []
    wanted = column or next((h for h in header if h.strip().lower() in ("email", "address", "order_id", "value")), None)
    if wanted not in header:
        raise OptoutError(f"no column {column or 'email/address/order_id'!r} in the CSV header")
    index = header.index(wanted)  # type: ignore[arg-type]
    for row in reader:
        if index < len(row) and row[index].strip():
            yield reader.line_num, row[index]


def run(
    eng: Engine, stream: TextIO, *, fmt: str, column: str | None, reason: str,
    on_batch: Callable[[int], None] = lambda n: None,
) -> ImportResult:
    """Import in batches of BATCH rows, one transaction each; bad lines are reported, not fatal."""
    result = ImportResult()
    now = utcnow()  # one time for the whole import: it is one act
    batch: list[NewReport] = []
    for number, raw in values(stream, fmt=fmt, column=column):
        result.read += 1
        try:
            query = parse_query(raw)
        except OptoutError as exc:
            result.bad.append(f"line {number}: {exc}")
            continue
        batch.append(_report(query.kind, query.value, reason, now))
        if len(batch) >= BATCH:
            _flush(eng, batch, result)
            on_batch(len(batch))
            batch = []
    if batch:
        _flush(eng, batch, result)
        on_batch(len(batch))
    return result


def _report(kind: str, value: str, reason: str, now: datetime) -> NewReport:
    return NewReport(
        dedup=f"import:{value}", source="import", note=reason, received_at=now,
        order_id=value if kind == "order" else None,
        buyer_email=value if kind == "email" else None,
    )


def _flush(eng: Engine, batch: list[NewReport], result: ImportResult) -> None:
    with eng.begin() as conn:
        done = record(conn, reports=batch, actor="import")
    result.new_reports += done.new_reports
    result.duplicates += done.duplicates
    result.new_entries += done.new_entries
