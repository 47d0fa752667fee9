"""``POST /v1/filter``: a send list in (one query a line, CSV with ``?column=``, or a JSON array),
only the rows a mailer may send to out, in order, by the rule ``optout filter`` uses
(``consult.lookup.sendable``).

The whole list is filtered before the answer starts, into a spooled file (the first megabyte in
memory, the rest on disk), so that the answer's headers can say how many rows were dropped and
why, and a body that turns out broken, or a database that goes away half way, is a clean 400 or
503 rather than an answer cut short. Line endings are kept as the caller sent them.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Annotated

from fastapi import APIRouter, Request
from fastapi import Query as QueryParam
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from optout.consult import lookup
from optout.consult.lookup import Invalid
from optout.http import bodies, metrics, problems
from optout.http.deps import ReadKey, StoreDep
from optout.http.lookups import QUERIES, SEND_LIST, content_type
from optout.http.store import Store

router = APIRouter()
KINDS = ("text/plain", "text/csv", "application/json")
_COUNT = {"type": "integer", "minimum": 0}
FILTERED: dict[int | str, dict[str, object]] = {200: {
    "description": "The rows that may be sent, as they came; the headers say what became of the rest",
    "headers": {
        "Optout-Kept": {"description": "Rows passed on: not listed", "schema": _COUNT},
        "Optout-Suppressed": {"description": "Rows left out: listed (by order ID or buyer address)", "schema": _COUNT},
        "Optout-Invalid": {"description": "Rows that are neither an address nor an order ID", "schema": _COUNT},
        "Optout-Invalid-Rows": {"description": "What became of the invalid rows (?invalid=)",
                                "schema": {"type": "string", "enum": ["drop", "keep"]}},
    },
    "content": {"text/plain": {"schema": SEND_LIST}, "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": QUERIES}}}}


@dataclass
class Filtered:
    out: IO[bytes]
    counts: dict[str, int] = field(default_factory=dict)


@router.post("/v1/filter", summary="A send list in (one address or order ID a line, CSV with ?column=NAME, "
             "or a JSON array); only the rows a mailer may send to out, in order", response_class=StreamingResponse,
             responses={**FILTERED, **problems.documented(400, 401, 403, 413, 415, 422, 503)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/plain": {"schema": SEND_LIST}, "application/json": {"schema": QUERIES},
                 "text/csv": {"schema": {"type": "string", "description": "CSV with a header; ?column= names "
                                                                          "the column to check"}}}}})
async def filter_post(request: Request, principal: ReadKey, store: StoreDep,
                      column: Annotated[list[str] | None, QueryParam(description="CSV: a column to check (an "
                                                                     "address or an order ID); repeat it to check "
                                                                     "each row by several: ?column=email&column="
                                                                     "order_id")] = None,
                      invalid: Annotated[Invalid, QueryParam(description="A row whose value is neither "
                                                             "an address nor an order ID could not be checked: "
                                                             "drop it (the default, as optout filter does) or "
                                                             "keep it")] = Invalid.drop,
                      ) -> StreamingResponse:
    kind = content_type(request, KINDS)
    body = await bodies.spool(request.stream(), lines=kind != "application/json")
    try:
        done = await run_in_threadpool(_filter_all, store, body, kind, column or [], invalid is Invalid.keep)
    finally:
        body.close()
    counts = done.counts
    headers = {"Optout-Kept": str(counts.get("kept", 0)), "Optout-Suppressed": str(counts.get("suppressed", 0)),
               "Optout-Invalid": str(counts.get("invalid", 0)), "Optout-Invalid-Rows": invalid.value}
    media = {"text/plain": "text/plain; charset=utf-8", "text/csv": "text/csv; charset=utf-8"}.get(kind, kind)
    return StreamingResponse(_chunks(done.out), media_type=media, headers=headers)


def _chunks(out: IO[bytes]) -> Iterator[bytes]:
    try:
        yield from iter(lambda: out.read(bodies.CHUNK), b"")
    finally:
        out.close()


def _filter_all(store: Store, body: IO[bytes], kind: str, columns: list[str], keep: bool) -> Filtered:
    """The whole answer, spooled; OptoutError (400) if the body is broken, 422 for a bad column."""
    done = Filtered(tempfile.SpooledTemporaryFile(max_size=bodies.IN_MEMORY))  # noqa: SIM115 (closed by _chunks)
    try:
        if kind == "application/json":
            _json(store, body, done, keep)
        else:
            _lines(store, body, done, kind, columns, keep)
    except BaseException:
        done.out.close()
        raise
    done.out.seek(0)
    return done


def _json(store: Store, body: IO[bytes], done: Filtered, keep: bool) -> None:
    done.out.write(b"[")
    first = True
    for batch in _batches(bodies.json_array(body)):
        for value in _sendable(store, batch, [[raw] for raw in batch], keep, done.counts):
            done.out.write((", " if not first else "").encode() + json.dumps(value, ensure_ascii=False).encode())
            first = False
    done.out.write(b"]")


def _lines(store: Store, body: IO[bytes], done: Filtered, kind: str, columns: list[str], keep: bool) -> None:
    ending = b"\r\n" if body.readline(bodies.LONGEST_ITEM).endswith(b"\r\n") else b"\n"
    body.seek(0)
    if kind == "text/plain":
        records: Iterator[str] = bodies.lines(body)
        pick: Callable[[list[str]], list[list[str | None]]] = lambda lines: [[line] for line in lines]
    else:
        records = bodies.csv_records(body)
        header = next(records, None)
        pick = _columns(header or "", columns)
        done.out.write((header or "").encode() + ending)
    for batch in _batches(records):
        kept = _sendable(store, batch, pick(batch), keep, done.counts)
        done.out.write(b"".join(record.encode() + ending for record in kept))


def _batches(items: Iterator[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= lookup.BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _sendable(store: Store, rows: list[str], raws: Sequence[Sequence[str | None]], keep: bool,
              counts: dict[str, int]) -> list[str]:
    values = [lookup.row_values(row) for row in raws]
    with store.connection() as reader:
        listed = lookup.listed_values(reader, [v for checked in values for v in checked if v], cutoff=store.cutoff)
    batch: dict[str, int] = {}  # the batch's own counts, by sendable's rule, for the metrics
    kept = lookup.sendable(rows, values, listed, keep_invalid=keep, counts=batch)
    suppressed, invalid = batch.get("suppressed", 0), batch.get("invalid", 0)
    metrics.count_lookups("filter", listed=suppressed, not_listed=len(values) - invalid - suppressed, malformed=invalid)
    for name, count in batch.items():
        counts[name] = counts.get(name, 0) + count
    return kept


def _columns(header: str, wanted: list[str]) -> Callable[[list[str]], list[list[str | None]]]:
    """Picks the named columns' values out of each of a batch of CSV records."""
    if not wanted:
        raise HTTPException(422, "a CSV send list needs ?column=NAME: the column with the address or order ID "
                                 "(repeat it to check several)")
    names = [n.strip() for n in next(csv.reader([header]), [])]
    for name in wanted:
        if name not in names:
            raise HTTPException(422, f"the CSV has no column {name!r}; its columns: {', '.join(names) or '(none)'}")
    indexes = [names.index(name) for name in wanted]
    return lambda records: [[row[i] if len(row) > i else None for i in indexes] for row in csv.reader(records)]
