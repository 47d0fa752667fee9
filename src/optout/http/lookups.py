"""Lookups for sending tools: ``/v1/check`` (one query or a million) and ``/v1/filter`` (a send
list in, only the rows a mailer may send to out). Bulk bodies are read and answered in batches
as they arrive; each batch is one database round trip in a worker thread."""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from enum import Enum
from typing import IO, TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Query as QueryParam
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from optout.consult import lookup
from optout.errors import OptoutError
from optout.http import bodies, metrics, problems
from optout.http.deps import ReadKey, StoreDep
from optout.identifiers import Query, parse_query

if TYPE_CHECKING:
    from optout.http.store import Store

log = logging.getLogger("optout.http")
MAX_GET_QUERIES = 100
NDJSON: dict[int | str, dict[str, Any]] = {200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}}
FILTERED: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}},
                              "text/csv": {"schema": {"type": "string"}}}}}


class Invalid(str, Enum):
    drop = "drop"
    keep = "keep"


class Answer(BaseModel):
    """What `optout check --json` prints for one query; the evidence only for a known entry."""

    query: str
    kind: str = Field(description="order or email")
    listed: bool
    status: str | None = Field(description="listed, removed or expired; null if never seen")
    buyer_email: str | None = None
    order_ids: list[str] | None = None
    marketplace: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    reports: int | None = None
    accounts: list[str] | None = Field(None, description="Accounts whose live reports name it. A seller's key sees "
                                         "only its own account here (or nothing); the admin key sees them all")
    verified: bool | None = Field(None, description="Some report's DKIM signature verified")
    removed_at: str | None = None
    removed_reason: str | None = None


class Results(BaseModel):
    results: list[Answer]


class CutWhenBroken(StreamingResponse):
    """A streamed answer that, when the body turns out broken half way (the status went out with
    the first batch), ends without its last chunk: uvicorn then closes the connection, and the
    client sees a cut answer rather than a filtered send list that only looks complete."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BrokenOff as exc:
            log.warning("bulk answer cut off", extra={"fields": {"why": str(exc)}})


router = APIRouter()


@router.get("/v1/check", summary="Is each query (a buyer address or an order ID) listed?",
            response_model=Results, responses=problems.documented(400, 401, 403, 422, 503))
async def check_get(q: Annotated[list[str], QueryParam(min_length=1, description="A buyer address or an "
                                                       f"order ID; up to {MAX_GET_QUERIES}")],
                    principal: ReadKey, store: StoreDep) -> Response:
    if len(q) > MAX_GET_QUERIES:
        raise OptoutError(f"at most {MAX_GET_QUERIES} q parameters; POST /v1/check takes any number")
    queries = [parse_query(raw) for raw in q]
    lines = await store.small(check_lines, store, queries, principal.sees)
    # written out, not through FastAPI's encoder: the same text `optout check --json` prints
    return Response(b'{"results": [' + b", ".join(lines) + b"]}", media_type="application/json")


@router.post("/v1/check", summary="Look up a send list of any size: JSON array or one query a line; "
             "answered as JSON lines, in order", response_class=StreamingResponse,
             responses={**NDJSON, **problems.documented(400, 401, 403, 413, 415, 503)})
async def check_post(request: Request, principal: ReadKey, store: StoreDep) -> StreamingResponse:
    kind = _content_type(request, store, ("application/json", "text/plain"))
    body = await bodies.spool(request.stream(), store.cfg.http_max_body, lines=kind == "text/plain")
    items = bodies.json_array(body) if kind == "application/json" else bodies.lines(body)
    first = await _first(items, body)
    return StreamingResponse(_answers(store, principal.sees, first, items, body), media_type="application/x-ndjson")


@router.post("/v1/filter", summary="A send list in (one address or order ID a line, or CSV with "
             "?column=NAME); only the rows a mailer may send to out, in order", response_class=StreamingResponse,
             responses={**FILTERED, **problems.documented(400, 401, 403, 413, 415, 422, 503)})
async def filter_post(request: Request, principal: ReadKey, store: StoreDep,
                      column: Annotated[str | None, QueryParam(description="CSV: the column with the "
                                                               "address or order ID")] = None,
                      invalid: Annotated[Invalid, QueryParam(description="A row whose value is neither "
                                                             "an address nor an order ID: drop it "
                                                             "(it could not be checked) or keep it")] = Invalid.drop,
                      ) -> StreamingResponse:
    kind = _content_type(request, store, ("text/plain", "text/csv"))
    body = await bodies.spool(request.stream(), store.cfg.http_max_body, lines=True)
    keep = invalid is Invalid.keep
    if kind == "text/plain":
        plain = bodies.lines(body)
        first = await _first(plain, body)
        return CutWhenBroken(_filtered(store, first, plain, body, _whole, keep=keep),
                             media_type="text/plain; charset=utf-8")
    records = bodies.csv_records(body)
    header = await _first(records, body)
    try:
        pick = _column(header[0] if header else "", column)
    except HTTPException:
        body.close()
        raise
    answer = _filtered(store, [], records, body, pick, keep=keep, head=header[0] + "\r\n" if header else "")
    return CutWhenBroken(answer, media_type="text/csv; charset=utf-8")


async def _first(items: Iterator[str], body: IO[bytes]) -> list[str]:
    """The first item, read before the answer starts, so that a body that is not what it says
    is a 400 rather than a 200 that breaks off."""
    try:
        taken, broken = await run_in_threadpool(_take, items, 1)
    except BaseException:
        body.close()
        raise
    if broken:
        body.close()
        raise OptoutError(broken)
    return taken


def _take(items: Iterator[str], count: int) -> tuple[list[str], str | None]:
    """Up to ``count`` items, and why the body broke off if it did."""
    taken: list[str] = []
    try:
        for item in items:
            taken.append(item)
            if len(taken) >= count:
                break
    except OptoutError as exc:
        return taken, str(exc)
    return taken, None


def _content_type(request: Request, store: Store, allowed: tuple[str, ...]) -> str:
    length = request.headers.get("content-length")
    limit = store.cfg.http_max_body
    if length and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"the body is {int(length):,} bytes; at most {limit:,} (setting http_max_body)")
    kind = request.headers.get("content-type", allowed[-1]).split(";")[0].strip().lower()
    if kind not in allowed:
        raise HTTPException(415, f"send {' or '.join(allowed)}")
    return kind


def _column(header: str, name: str | None) -> Callable[[list[str]], list[str | None]]:
    """Picks the named column's value out of each of a batch of CSV records."""
    if not name:
        raise HTTPException(422, "a CSV send list needs ?column=NAME: the column with the address or order ID")
    names = [n.strip() for n in next(csv.reader([header]), [])]
    if name not in names:
        raise HTTPException(422, f"the CSV has no column {name!r}; its columns: {', '.join(names) or '(none)'}")
    index = names.index(name)
    return lambda records: [row[index] if len(row) > index else None for row in csv.reader(records)]


def _whole(records: list[str]) -> list[str | None]:
    return list(records)


async def _answers(store: Store, sees: str | None, first: list[str], items: Iterator[str],
                   body: IO[bytes]) -> AsyncIterator[bytes]:
    """The JSON line of each query, in order. A malformed query gets a line with its error; a
    body that breaks off, or a database that goes away, gets a last line saying so (the status
    went out with the first batch)."""
    try:
        async for data in _batched(store, first, items, body, lambda store_, batch: _answer_batch(store_, batch, sees)):
            yield data
    except BrokenOff as exc:
        yield (json.dumps({"error": str(exc)}) + "\n").encode()


async def _filtered(store: Store, first: list[str], records: Iterator[str], body: IO[bytes],
                    pick: Callable[[list[str]], list[str | None]], *, keep: bool, head: str = "") -> AsyncIterator[bytes]:
    """The header, then the records that may be sent; BrokenOff (a cut answer) if the body or
    the database fails half way."""
    def batch_out(store_: Store, batch: list[str]) -> bytes:
        return _filter_batch(store_, batch, pick, keep, "\r\n" if head else "\n")

    if head:
        yield head.encode()
    async for data in _batched(store, first, records, body, batch_out):
        yield data


async def _batched(store: Store, first: list[str], items: Iterator[str], body: IO[bytes],
                   answer: Callable[[Store, list[str]], bytes]) -> AsyncIterator[bytes]:
    """``answer`` of each batch of items, a batch per trip to a worker thread; the spooled body
    closed at the end. Raises BrokenOff when the body breaks off or the database goes away."""
    try:
        pending = first
        while True:
            data, broken, more = await run_in_threadpool(_step, store, pending, items, answer)
            pending = []
            if data:
                yield data
            if broken:
                raise BrokenOff(broken)
            if not more:
                return
    except problems.Unavailable:  # the driver's words are in the log, not in the answer
        raise BrokenOff("the database went away; send the rest again") from None
    finally:
        body.close()


def _step(store: Store, pending: list[str], items: Iterator[str],
          answer: Callable[[Store, list[str]], bytes]) -> tuple[bytes, str | None, bool]:
    """One batch: read it (after ``pending``), answer it; (bytes, why it broke off, more to come)."""
    batch, broken = _take(items, lookup.BATCH - len(pending))
    batch = pending + batch
    data = answer(store, batch) if batch else b""
    return data, broken, bool(batch) and not broken


class BrokenOff(Exception):
    """The body turned out broken, or the database went away, after the answer had started."""


def check_lines(store: Store, queries: list[Query], sees: str | None) -> list[bytes]:
    """Each query's answer line, as `optout check --json` prints it, the reporting accounts
    narrowed to what the key ``sees`` (``Principal.sees``); lookups counted."""
    cutoff = store.cutoff
    with store.connection() as reader:
        found = list(lookup.check(reader, queries, detail=True))
    listed = sum(1 for _, row, _ in found if lookup.status(row, cutoff) == "listed")
    metrics.count_lookups("check", listed=listed, not_listed=len(found) - listed)
    return [lookup.json_line(q, row, visible(slugs, sees), cutoff=cutoff).encode() for q, row, slugs in found]


def visible(slugs: list[str], sees: str | None) -> list[str]:
    """The reporting accounts a key may see: all for the operator's (``sees`` None), else its
    own account's, if it reported the entry. Sellers must not learn who else reports a buyer:
    that would map the shared list to their competitors."""
    if sees is None:
        return slugs
    return [sees] if sees in slugs else []


def _answer_batch(store: Store, batch: list[str], sees: str | None) -> bytes:
    good: list[Query | None] = []  # None keeps a malformed query's place in the order
    errors: list[tuple[str, str]] = []
    for raw in batch:
        try:
            good.append(parse_query(raw))
        except OptoutError as exc:
            good.append(None)
            errors.append((raw, str(exc)))
    started, cutoff = time.perf_counter(), store.cutoff
    with store.connection() as reader:
        found = iter(lookup.check(reader, [q for q in good if q is not None], detail=True))
        lines, why = [], iter(errors)
        listed = 0
        for query in good:
            if query is None:
                raw, reason = next(why)
                lines.append(json.dumps({"query": raw, "error": reason}, ensure_ascii=False))
                continue
            q, row, accounts = next(found)
            listed += lookup.status(row, cutoff) == "listed"
            lines.append(lookup.json_line(q, row, visible(accounts, sees), cutoff=cutoff))
    metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
    metrics.count_lookups("check_bulk", listed=listed, not_listed=len(batch) - len(errors) - listed,
                          malformed=len(errors))
    return ("\n".join(lines) + "\n").encode()


def _filter_batch(store: Store, batch: list[str], pick: Callable[[list[str]], list[str | None]],
                  keep_invalid: bool, ending: str) -> bytes:
    """The records of ``batch`` whose value is not listed, each with ``ending``."""
    values: list[str | None] = []
    for raw in pick(batch):
        try:
            values.append(parse_query(raw).value if raw else None)
        except OptoutError:
            values.append(None)
    started = time.perf_counter()
    with store.connection() as reader:
        listed = lookup.listed_values(reader, [v for v in values if v], cutoff=store.cutoff)
    metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
    kept = [record for record, value in zip(batch, values) if (value not in listed if value else keep_invalid)]
    invalid, suppressed = values.count(None), sum(1 for value in values if value in listed)
    metrics.count_lookups("filter", listed=suppressed, not_listed=len(values) - invalid - suppressed, malformed=invalid)
    return "".join(record + ending for record in kept).encode()
