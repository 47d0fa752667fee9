"""A bare DB-API connection for the hot reads, with the SQL dialect it speaks.

The lookups (``consult/``) run on DB-API connections rather than SQLAlchemy, so that ``optout
check`` starts fast and the HTTP side's lookups skip SQLAlchemy's per-statement work; the
statements are written once, with ``?`` marks (``store/sql.py``), and ``run`` adapts them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

from optout.store import sql

Dialect = Literal["sqlite", "postgresql"]


class Cursor(Protocol):
    def execute(self, statement: str, params: Sequence[Any] = ..., /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class Reader:
    """A DB-API connection and its dialect: ``Reader.open(settings)`` for a command's own
    read-only connection, ``Reader.pooled(conn, dialect)`` for one borrowed from a pool."""

    __slots__ = ("conn", "dialect")

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self.conn, self.dialect = conn, dialect

    @classmethod
    def open(cls, settings: Any) -> Reader:
        """A read-only connection to the configured database, its schema checked (``db.reader``)."""
        from optout.store import db

        return db.reader(settings)

    @classmethod
    def pooled(cls, conn: Connection, dialect: str) -> Reader:
        return cls(conn, "sqlite" if dialect == "sqlite" else "postgresql")

    def run(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        """Execute ``statement`` (written with ``?``) on a new cursor; the cursor."""
        cursor: Cursor = sql.run(self.conn.cursor(), self.dialect, statement, params)
        return cursor

    def close(self) -> None:
        self.conn.close()
