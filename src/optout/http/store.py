"""The database for requests: a pool of read-only connections for lookups, and a writing
engine for the few writes. Lookups read through a pooled read-only connection (a WAL reader on
SQLite, so they never wait for the listener's commits).

A database that cannot answer (``errors.is_outage``) is ``Unavailable`` (503): the broken
connection is dropped from the pool, so the service recovers by itself. Any other database error
is a bug or bad data, and is not dressed up as an outage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from optout.config import Settings
from optout.consult import lookup
from optout.errors import first_line, is_outage
from optout.http import problems
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

    @property
    def cutoff(self) -> str | None:
        """Entries last seen before this count as expired (moves with the clock)."""
        return lookup.expiry_cutoff(self.cfg.expire_days)

    async def small(self, work: Callable[..., T], *args: Any) -> T:
        """Run a small read (a GET lookup, a key check). On SQLite, on the event loop itself: it
        takes microseconds, a WAL reader never waits for a writer, and a worker thread would
        cost two hand-overs of the interpreter lock, each up to its 5 ms switch interval while
        the loop is busy (measured: the lookup's own time grew tenfold). On PostgreSQL, a round
        trip over the network, in a worker thread."""
        if self.dialect == "sqlite":
            self._loop_thread = threading.get_ident()
            return work(*args)
        try:
            return await run_in_threadpool(work, *args)
        except problems.Unavailable:  # a pooled connection the server had closed: once more, afresh
            return await run_in_threadpool(work, *args)

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
