"""Lookups for sending tools: ``/v1/check``, one query or a million (``/v1/filter`` is
``http/filtering.py``). A GET's few queries go through ``Store.look_up``; a bulk body is spooled,
then answered in batches as JSON lines: on SQLite a batch in a worker thread, on PostgreSQL on the
event loop over an asynchronous connection (see ``_answers``)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
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
from optout.http.problems import Kind, Status, Time
from optout.identifiers import Query, parse_query

if TYPE_CHECKING:
    from optout.http.store import Store

log = logging.getLogger("optout.http")
MAX_GET_QUERIES = 100
LOOP_BATCH = 500  # queries a step of the event loop parses and renders: well under 50 ms
class Answer(BaseModel):
    """What `optout check --json` prints for one query; the evidence only for a known entry."""

    query: str = Field(description="The query as sent (surrounding white space removed)")
    normalised: str = Field(description="What the list holds and matched: an order ID as 3-7-7 digits; an "
                                        "address lower-cased whole and validated (email-validator, no DNS)")
    kind: Kind
    listed: bool
    status: Status | None = Field(description="null if never seen")
    buyer_email: str | None = None
    order_ids: list[str] | None = None
    marketplace: str | None = None
    first_seen: Time = None
    last_seen: Time = None
    reports: int | None = None
    accounts: list[str] | None = Field(None, description="Accounts whose live reports name it. A seller's key sees "
                                         "only its own account here (or nothing); the admin key sees them all")
    verified: bool | None = Field(None, description="Some report's DKIM signature verified")
    removed_at: Time = None
    removed_reason: str | None = None


class Results(BaseModel):
    results: list[Answer]


class LineError(BaseModel):
    """A line of POST /v1/check for a query that is neither an address nor an order ID, or the
    last line when the answer breaks off (then without ``query``: send the rest again)."""

    query: str | None = Field(None, description="The query as sent")
    error: str = Field(description="Why it could not be checked")


# POST /v1/check answers in JSON lines: each line an Answer, or a LineError (http/docs.py puts
# both models in the document; OpenAPI 3.1 has no way to say "a stream of" but this)
LINE = {"oneOf": [{"$ref": "#/components/schemas/Answer"}, {"$ref": "#/components/schemas/LineError"}]}
NDJSON: dict[int | str, dict[str, Any]] = {200: {
    "description": "One JSON object a line, in the order of the queries: an Answer, or a LineError",
    "content": {"application/x-ndjson": {"schema": LINE}}}}


router = APIRouter()


@router.get("/v1/check", summary="Is each query (a buyer address or an order ID) listed?",
            response_model=Results, responses=problems.documented(400, 401, 403, 422, 503))
async def check_get(q: Annotated[list[str], QueryParam(min_length=1, description="A buyer address or an "
                                                       f"order ID; up to {MAX_GET_QUERIES}")],
                    principal: ReadKey, store: StoreDep) -> Response:
    if len(q) > MAX_GET_QUERIES:  # a request that is well-formed but asks too much: 422, as validation says
        raise HTTPException(422, f"at most {MAX_GET_QUERIES} q parameters; POST /v1/check takes any number")
    queries = [parse_query(raw) for raw in q]
    lines = await check_lines(store, queries, principal.sees)
    # written out, not through FastAPI's encoder: the same text `optout check --json` prints
    return Response(b'{"results": [' + b", ".join(lines) + b"]}", media_type="application/json")


SEND_LIST = {"type": "string", "description": "One buyer address or order ID a line"}
QUERIES = {"type": "array", "items": {"type": "string"}, "description": "Buyer addresses and order IDs"}


@router.post("/v1/check", summary="Look up a send list of any size: JSON array or one query a line; "
             "answered as JSON lines, in order", response_class=StreamingResponse,
             responses={**NDJSON, **problems.documented(400, 401, 403, 413, 415, 503)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": QUERIES}, "text/plain": {"schema": SEND_LIST}}}})
async def check_post(request: Request, principal: ReadKey, store: StoreDep) -> StreamingResponse:
    kind = content_type(request, ("application/json", "text/plain"))
    body = await bodies.spool(request.stream(), lines=kind == "text/plain")
    items = bodies.json_array(body) if kind == "application/json" else bodies.lines(body)
    first = await _first(items, body)
    return StreamingResponse(_answers(store, principal.sees, first, items, body), media_type="application/x-ndjson")


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


def content_type(request: Request, allowed: tuple[str, ...]) -> str:
    """The body's media type, one of ``allowed`` (415 otherwise; its size the gate has judged)."""
    kind = request.headers.get("content-type", allowed[-1]).split(";")[0].strip().lower()
    if kind not in allowed:
        raise HTTPException(415, f"send {' or '.join(allowed)}")
    return kind


async def _answers(store: Store, sees: str | None, first: list[str], items: Iterator[str],
                   body: IO[bytes]) -> AsyncIterator[bytes]:
    """The JSON line of each query, in order. A malformed query gets a line with its error; a
    body that breaks off, or a database that goes away, gets a last line saying so (the status
    went out with the first batch).

    On SQLite a batch is answered in a worker thread (its lookup is CPU work). On PostgreSQL it
    is answered on the event loop, the lookup awaited on an asynchronous connection: a worker
    thread busy with a bulk list would take the interpreter lock from the loop in turns, and
    hold up the GET lookups beside it (measured: steps of the loop near 100 ms)."""
    try:
        pending = first
        while True:
            if store.dialect == "postgresql":
                batch, broken = _take(items, LOOP_BATCH - len(pending))
                batch = pending + batch
                data = await _answer_async(store, batch, sees) if batch else b""
                more = bool(batch) and not broken
            else:
                data, broken, more = await run_in_threadpool(_step, store, pending, items, sees)
            pending = []
            if data:
                yield data
            if broken:
                raise BrokenOff(broken)
            if not more:
                return
    except problems.Unavailable:  # the driver's words are in the log, not in the answer
        yield (json.dumps({"error": "the database went away; send the rest again"}) + "\n").encode()
    except BrokenOff as exc:
        yield (json.dumps({"error": str(exc)}) + "\n").encode()
    finally:
        body.close()


def _step(store: Store, pending: list[str], items: Iterator[str], sees: str | None) -> tuple[bytes, str | None, bool]:
    """One batch: read it (after ``pending``), answer it; (bytes, why it broke off, more to come)."""
    batch, broken = _take(items, lookup.BATCH - len(pending))
    batch = pending + batch
    if not batch:
        return b"", broken, False
    good, errors = _parsed(batch)
    started = time.perf_counter()
    with store.connection() as reader:  # rendered as the answers come: none is held longer than it takes
        data = _rendered(store, good, errors, lookup.check(reader, [q for q in good if q is not None], detail=True),
                         sees)
    metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
    return data, broken, not broken


async def _answer_async(store: Store, batch: list[str], sees: str | None) -> bytes:
    good, errors = _parsed(batch)
    started = time.perf_counter()
    found = await store.check([q for q in good if q is not None])
    metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
    return _rendered(store, good, errors, found, sees)


class BrokenOff(Exception):
    """The body turned out broken after the answer had started."""


async def check_lines(store: Store, queries: list[Query], sees: str | None) -> list[bytes]:
    """Each query's answer line, as `optout check --json` prints it, the reporting accounts
    narrowed to what the key ``sees`` (``Principal.sees``); lookups counted."""
    cutoff = store.cutoff
    found = await store.look_up(queries)
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


def _parsed(batch: list[str]) -> tuple[list[Query | None], list[tuple[str, str]]]:
    """Each raw query parsed (None keeps a malformed one's place in the order), and the errors."""
    good: list[Query | None] = []
    errors: list[tuple[str, str]] = []
    for raw in batch:
        try:
            good.append(parse_query(raw))
        except OptoutError as exc:
            good.append(None)
            errors.append((raw, str(exc)))
    return good, errors


def _rendered(store: Store, good: list[Query | None], errors: list[tuple[str, str]], found: Iterable[lookup.Found],
              sees: str | None) -> bytes:
    """The batch's JSON lines, in order; lookups counted."""
    cutoff = store.cutoff
    answers, why = iter(found), iter(errors)
    lines, listed = [], 0
    for query in good:
        if query is None:
            raw, reason = next(why)
            lines.append(json.dumps({"query": raw, "error": reason}, ensure_ascii=False))
            continue
        q, row, accounts = next(answers)
        listed += lookup.status(row, cutoff) == "listed"
        lines.append(lookup.json_line(q, row, visible(accounts, sees), cutoff=cutoff))
    metrics.count_lookups("check_bulk", listed=listed, not_listed=len(good) - len(errors) - listed,
                          malformed=len(errors))
    return ("\n".join(lines) + "\n").encode()
