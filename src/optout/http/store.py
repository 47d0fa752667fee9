"""The database for requests: a pool of read-only connections for lookups, and a writing
engine for the few writes. Lookups read through a pooled read-only connection (a WAL reader on
SQLite, so they never wait for the listener's commits).

A database that cannot answer (``errors.is_outage``) is ``Unavailable`` (503): the broken
connection is dropped from the pool, so the service recovers by itself. Any other database error
is a bug or bad data, and is not dressed up as an outage.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine

from optout.config import Settings
from optout.consult import lookup
from optout.errors import first_line, is_outage
from optout.http import problems
from optout.http.coalesce import Coalescer
from optout.identifiers import Query
from optout.store import db, sql
from optout.store.reader import Reader

log = logging.getLogger("optout.http")
T = TypeVar("T")


class Store:
    """Connections for the HTTP side's requests; one per application (``app.state.store``)."""

    def __init__(self, cfg: Settings) -> None:
        self.cfg = cfg
        # as many connections as requests can use at once: a pool smaller than the traffic
        # opens and closes a connection per request, which cost more than the lookup
        self.engine = db.lookup_pool(cfg, size=cfg.http_db_connections)
        self.dialect = self.engine.dialect.name
        self._writer: Engine | None = None
        self._loop_thread: int | None = None  # the event loop's thread, once a small read ran on it
        self._loop_conn: Any = None
        self._path = db.sqlite_path(cfg.url) if self.dialect == "sqlite" else None
        self._apool: AsyncConnectionPool | None = None  # PostgreSQL's lookups, made on first use
        self._closing: set[asyncio.Task[None]] = set()  # pools dropped after an outage, closing
        self._together: Coalescer[Query, lookup.Found] = Coalescer(  # PostgreSQL only: see look_up
            self.check, at_once=cfg.http_db_batches, most=lookup.BATCH)

    @property
    def cutoff(self) -> str | None:
        """Entries last seen before this count as expired (moves with the clock)."""
        return lookup.expiry_cutoff(self.cfg.expire_days)

    async def check(self, queries: list[Query]) -> list[lookup.Found]:
        """Each query's entry and reporting accounts (``lookup.check``): on SQLite on the event
        loop (see ``_on_loop``); on PostgreSQL on an asynchronous connection, so the loop goes on
        serving while the server answers and no worker thread takes the interpreter lock."""
        if self.dialect == "sqlite":
            return self._on_loop(_checked, self, queries)
        return await self._on_pool(self._check_async, queries)

    async def look_up(self, queries: list[Query]) -> list[lookup.Found]:
        """A request's few queries (a GET): as ``check``, on PostgreSQL answered together with
        those of the requests waiting beside it (``http/coalesce.py``)."""
        if self.dialect == "sqlite":
            return self._on_loop(_checked, self, queries)
        return await self._together.look_up(queries)

    async def one(self, statement: str, params: tuple[Any, ...]) -> Any:
        """The first row of a small read (a key check), as ``check`` runs it."""
        if self.dialect == "sqlite":
            return self._on_loop(_first_row, self, statement, params)
        return await self._on_pool(self._one_async, statement, params)

    async def _check_async(self, queries: list[Query]) -> list[lookup.Found]:
        found: list[lookup.Found] = []
        async with (await self._pool()).connection() as conn:
            for start in range(0, len(queries), lookup.BATCH):
                batch = queries[start:start + lookup.BATCH]
                plan = lookup.check_plan("postgresql", batch, detail=True)
                try:
                    statement, params = next(plan)
                    while True:
                        cursor = await conn.execute(sql.marks(statement, "postgresql"), params)
                        statement, params = plan.send(await cursor.fetchall())
                except StopIteration as done:
                    found.extend(lookup.answers(batch, done.value))
        return found

    async def _one_async(self, statement: str, params: tuple[Any, ...]) -> Any:
        async with (await self._pool()).connection() as conn:
            cursor = await conn.execute(sql.marks(statement, "postgresql"), params)
            return await cursor.fetchone()

    async def _on_pool(self, work: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``work`` on the asynchronous pool. After an outage (a restarted server leaves every
        pooled connection broken; a server away leaves none to be had, and the pool's own
        reconnection backs off for minutes) the pool is dropped and a fresh one tried once, as
        the synchronous engine is disposed; then it is Unavailable."""
        for attempt in (1, 2):
            try:
                return await work(*args)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._drop_pool()
                if attempt == 2:
                    raise self._unavailable(exc) from None
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _drop_pool(self) -> None:
        pool, self._apool = self._apool, None
        if pool is not None:  # closed in the background: closing waits for its workers
            task = asyncio.get_running_loop().create_task(pool.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _pool(self) -> AsyncConnectionPool:
        """Opened on first use, on the event loop that serves the requests."""
        if self._apool is None:
            conninfo = self.cfg.url.replace("postgresql+psycopg://", "postgresql://", 1)
            self._apool = AsyncConnectionPool(
                conninfo, min_size=min(4, self.cfg.http_db_connections), max_size=self.cfg.http_db_connections,
                timeout=self.cfg.http_db_wait, open=False, check=None,
                # Cached plans here, not db.PLAN_EACH_TIME: planning a lookup costs more than
                # running it (+60 and +260 us for its two statements on a 1M list). A plan made
                # while the list was small (a sequential scan) goes with its connection instead.
                max_lifetime=self.cfg.http_db_lifetime,
                kwargs={"autocommit": True, "connect_timeout": max(1, int(self.cfg.db_timeout))})
            await self._apool.open(wait=False)
        return self._apool

    async def aclose(self) -> None:
        if self._apool is not None:
            await self._apool.close()
        self.dispose()

    def _on_loop(self, work: Callable[..., T], *args: Any) -> T:
        """Run a small SQLite read (a GET lookup, a key check) on the event loop itself: it takes
        microseconds, a WAL reader never waits for a writer, and a worker thread would cost two
        hand-overs of the interpreter lock, each up to its 5 ms switch interval while the loop
        is busy (measured: the lookup's own time grew tenfold). ``connection`` then keeps one
        connection checked out for the loop."""
        self._loop_thread = threading.get_ident()
        return work(*args)

    @contextmanager
    def connection(self) -> Iterator[Reader]:
        """A reader for the hot paths (lookups), its read ended after: from the pool, or on the
        event loop (SQLite) one kept checked out, since a checkout cost more than a lookup. An
        outage drops the connection, so the next one starts afresh."""
        on_loop = threading.get_ident() == self._loop_thread
        try:
            conn = self._held() if on_loop else self.engine.raw_connection()
        except Exception as exc:
            raise self._unavailable(exc) from None
        try:
            yield Reader.pooled(conn, self.dialect)
            conn.rollback()  # end the read transaction: the next reader sees new commits
        except Exception as exc:
            if not is_outage(exc):
                raise
            conn.invalidate()
            self._loop_conn = None
            if self.dialect == "postgresql":
                self.engine.dispose()  # the others are likely gone too (a restart): open afresh
            raise self._unavailable(exc) from None
        finally:
            if not on_loop:
                conn.close()

    def _held(self) -> Any:
        assert self._path is not None  # the event loop's own connection is SQLite's only
        if self._loop_conn is not None and not db.moved(self._path, self._loop_conn):
            return self._loop_conn
        if self._loop_conn is not None:
            self._loop_conn.invalidate()
            self._loop_conn = None
        self._loop_conn = self.engine.raw_connection()
        return self._loop_conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self._guarded(self.engine.connect) as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One transaction on the writing engine, committed at the end."""
        if self._writer is None:
            self._writer = db.writer(self.cfg)
        with self._guarded(self._writer.begin) as conn:
            yield conn

    @contextmanager
    def _guarded(self, opening: Callable[[], Any]) -> Iterator[Connection]:
        try:
            with opening() as conn:
                yield conn
        except Exception as exc:
            if not is_outage(exc):
                raise
            raise self._unavailable(exc) from None

    @staticmethod
    def _unavailable(exc: Exception) -> problems.Unavailable:
        """The outage, logged with the driver's words (which no answer carries)."""
        why = first_line(exc)
        log.warning("database unavailable", extra={"fields": {"why": why}})
        return problems.Unavailable(why)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer is not None:
            self._writer.dispose()

    def schema(self) -> str | None:
        with self.connection() as reader:
            row = reader.run(sql.SCHEMA_REVISION).fetchone()
            return row[0] if row else None


def _checked(store: Store, queries: list[Query]) -> list[lookup.Found]:
    with store.connection() as reader:
        return list(lookup.check(reader, queries, detail=True))


def _first_row(store: Store, statement: str, params: tuple[Any, ...]) -> Any:
    with store.connection() as reader:
        return reader.run(statement, params).fetchone()
