"""The HTTP application: ``/v1/check`` for sending tools, ``/healthz``, ``/readyz`` and
``/metrics`` for operators. Lookups answer exactly what ``optout check --json`` prints.

Lookups read through a pooled read-only connection (a WAL reader on SQLite, so they never wait
for the listener's commits). A bulk ``POST /v1/check`` is read and answered line by line, in
batches, so a send list of any size costs the same memory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi import Query as QueryParam
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from optout.config import Settings
from optout.consult import lookup
from optout.errors import OptoutError
from optout.http import metrics, problems
from optout.http.auth import Keys, Principal
from optout.identifiers import Query, parse_query
from optout.store import db, sql

log = logging.getLogger("optout.http")
MAX_GET_QUERIES = 100


class AnswerWhileReading(StreamingResponse):
    """A streamed answer produced while the request body is still arriving. Starlette's
    StreamingResponse listens for a disconnect by reading the request's messages, which would
    take the body away from the handler; the body's own end-of-stream tells us instead."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.stream_response(send)
        except OSError:  # the client went away: nothing left to answer
            return


class Store:
    """The read side of the database for requests: a pool of read-only connections."""

    def __init__(self, cfg: Settings) -> None:
        self.cfg = cfg
        self.engine = db.engine(cfg, check_schema=False, write=False)
        self.dialect = self.engine.dialect.name
        self.cutoff = lookup.expiry_cutoff(cfg.expire_days)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled DB-API connection; a database error is Unavailable (503), not a 500."""
        try:
            conn = self.engine.raw_connection()
        except Exception as exc:
            raise problems.Unavailable(_first_line(exc)) from None
        try:
            yield conn
            conn.rollback()  # end the read transaction: the next reader sees new commits
        except (OptoutError, HTTPException):
            raise
        except Exception as exc:
            if type(exc).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg"):
                raise problems.Unavailable(_first_line(exc)) from None
            raise
        finally:
            conn.close()

    def check(self, raw: list[str]) -> list[dict[str, Any]]:
        queries = [parse_query(q) for q in raw]
        with self.connection() as conn:
            found = lookup.check(conn, self.dialect, queries, detail=True)
            return [lookup.record(q, row, accounts, cutoff=self.cutoff) for q, row, accounts in found]

    def schema(self) -> str | None:
        with self.connection() as conn:
            row = sql.run(conn.cursor(), self.dialect, sql.SCHEMA_REVISION).fetchone()
            return row[0] if row else None


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def create_app(cfg: Settings, *, worker_alive: Callable[[], bool] | None = None) -> FastAPI:
    """The application; ``worker_alive`` tells /readyz whether the SMTP side's worker runs."""
    app = FastAPI(title="optout", version=_version(),
                  description="Lookups on the shared list of Amazon buyers who opted out of seller messages.")
    store = Store(cfg)
    keys = Keys(store)
    problems.install(app)
    metrics.install(app)
    can_read = Depends(keys.require("read"))

    @app.get("/v1/check", summary="Is each query (a buyer address or an order ID) listed?")
    def check_get(q: Annotated[list[str], QueryParam(min_length=1)], principal: Principal = can_read) -> dict[str, Any]:
        if len(q) > MAX_GET_QUERIES:
            raise OptoutError(f"at most {MAX_GET_QUERIES} q parameters; POST /v1/check takes any number")
        results = store.check(q)
        metrics.count_lookups("check", results)
        return {"results": results}

    @app.post("/v1/check", summary="Look up a send list of any size: JSON array or one query a line; "
              "answered as JSON lines, in order", response_class=StreamingResponse,
              responses={200: {"content": {"application/x-ndjson": {}}}})
    async def check_post(request: Request, principal: Principal = can_read) -> StreamingResponse:
        _within_limit(request, cfg.http_max_body)
        kind = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
        if kind not in ("application/json", "text/plain"):
            raise HTTPException(415, "send application/json (an array of strings) or text/plain (one query a line)")
        items = _json_array(request.stream()) if kind == "application/json" else _lines(request.stream())
        try:  # the first query before the answer starts: a body that is not what it says is a 400
            first = [await anext(items)]
        except StopAsyncIteration:
            first = []
        return AnswerWhileReading(_answers(store, _chain(first, items)), media_type="application/x-ndjson")

    @app.get("/healthz", summary="The process is up", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok\n"

    @app.get("/readyz", summary="The database answers with the schema this optout needs, and the "
             "SMTP side's worker runs")
    def readyz() -> JSONResponse:
        try:
            revision = store.schema()
        except problems.Unavailable as exc:
            return problems.problem(503, f"database unreachable: {exc}")
        if revision != db.SCHEMA_REVISION:
            return problems.problem(503, f"database schema is at {revision}, this optout needs "
                                         f"{db.SCHEMA_REVISION}: run `optout db upgrade`")
        if worker_alive is not None and not worker_alive():
            return problems.problem(503, "the SMTP side's worker process is not running")
        return JSONResponse({"status": "ready", "schema": revision})

    app.state.store = store
    return app


def _version() -> str:
    from optout import __version__

    return __version__


def _within_limit(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"the body is {int(length):,} bytes; at most {limit:,} (setting http_max_body)")


async def _lines(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """One query a line, as the body arrives."""
    pending = b""
    async for chunk in stream:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line.decode("utf-8", "replace").strip()
    if pending.strip():
        yield pending.decode("utf-8", "replace").strip()


async def _json_array(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The strings of a JSON array, as the body arrives (never the whole body in memory)."""
    decoder = json.JSONDecoder()
    buffer, started, done = "", False, False
    async for chunk in stream:
        buffer += chunk.decode("utf-8", "replace")
        while not done:
            buffer = buffer.lstrip(" \t\r\n,")
            if not started:
                if not buffer:
                    break
                if buffer[0] != "[":
                    raise OptoutError("the body is not a JSON array of strings")
                started, buffer = True, buffer[1:]
                continue
            if buffer.startswith("]"):
                done = True
                break
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                if len(buffer) > 64 * 1024:  # no query is that long: the JSON is broken
                    raise OptoutError("the body is not a JSON array of strings") from None
                break  # wait for more
            if not isinstance(value, str):
                raise OptoutError("the body is not a JSON array of strings")
            buffer = buffer[end:]
            yield value
    if not done:
        raise OptoutError("the body is not a complete JSON array")


async def _chain(first: list[str], rest: AsyncIterator[str]) -> AsyncIterator[str]:
    for item in first:
        yield item
    async for item in rest:
        yield item


async def _answers(store: Store, items: AsyncIterator[str]) -> AsyncIterator[bytes]:
    """The JSON line of each query, in order, looked up in batches. A malformed query gets a
    line with its error; a body that breaks off gets a last line saying so."""
    batch: list[str] = []
    try:
        async for item in items:
            batch.append(item)
            if len(batch) >= lookup.BATCH:
                yield await run_in_threadpool(_answer_batch, store, batch)
                batch = []
        if batch:
            yield await run_in_threadpool(_answer_batch, store, batch)
    except (OptoutError, problems.Unavailable) as exc:
        yield (json.dumps({"error": str(exc)}) + "\n").encode()
    except ClientDisconnect:
        return


def _answer_batch(store: Store, batch: list[str]) -> bytes:
    good: list[Query | None] = []  # None keeps a malformed query's place in the order
    out: list[tuple[str, str]] = []
    for raw in batch:
        try:
            good.append(parse_query(raw))
        except OptoutError as exc:
            good.append(None)
            out.append((raw, str(exc)))
    started = time.perf_counter()
    with store.connection() as conn:
        found = iter(lookup.check(conn, store.dialect, [q for q in good if q is not None], detail=True))
        lines, errors = [], iter(out)
        for query in good:
            if query is None:
                raw, why = next(errors)
                lines.append(json.dumps({"query": raw, "error": why}, ensure_ascii=False))
                continue
            q, row, accounts = next(found)
            record = lookup.record(q, row, accounts, cutoff=store.cutoff)
            metrics.LOOKUPS.labels("check_bulk", "listed" if record["listed"] else "not_listed").inc()
            lines.append(json.dumps(record, ensure_ascii=False, default=str))
    metrics.LOOKUP_SECONDS.observe(time.perf_counter() - started)
    return ("\n".join(lines) + "\n").encode()
