"""Many rows in one INSERT, and the reads beside it, at the driver: the path for imports and
group commits.

SQLAlchemy's per-row parameter processing costs more than SQLite's own work when a statement
carries thousands of rows, so these statements are written as SQL text (portable between SQLite
and PostgreSQL: ``ON CONFLICT``, ``excluded``, ``RETURNING``) and handed to the driver: on
SQLite as a ``VALUES`` list, on PostgreSQL as one array per column. Values are adapted here
the way SQLAlchemy would store them.

On PostgreSQL the statements go to psycopg's own cursor, so that inside ``pipeline`` they are sent
without waiting for one another: a group commit's statements then cost four round trips to the
server instead of ten, and on a busy host each round trip is two waits to be scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from optout.store.sql import marks, rows_per_statement


def insert(conn: Connection, *, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
           tail: str, returning: str | None = None) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (columns) … tail [RETURNING …]`` in chunks; the returned rows."""
    end = f" {tail}" + (f" RETURNING {returning}" if returning else "")
    sent: list[Rows] = []
    step = rows_per_statement(conn.dialect.name, len(columns))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        if conn.dialect.name == "sqlite":
            sent.append(_sqlite(conn, _values(table, columns, len(chunk), end),
                                _adapt(v for row in chunk for v in row)))
        else:
            sent.append(_postgresql(conn, _unnest(conn.dialect, table, tuple(columns), end),
                                    [list(col) for col in zip(*chunk)]))
    return [row for rows_ in sent for row in rows_.all()] if returning else []


class Rows:
    """A statement's answer, read when first wanted: inside ``pipeline`` on PostgreSQL the
    statement has gone out with those after it and is waited for only here; otherwise it has
    been answered already."""

    def __init__(self, source: Any) -> None:
        self._source = source  # psycopg's cursor, or the rows themselves

    def all(self) -> list[tuple[Any, ...]]:
        """The rows; only for a statement that returns rows (a query, or RETURNING)."""
        if not isinstance(self._source, list):
            self._source = [tuple(row) for row in self._source.fetchall()]
        rows: list[tuple[Any, ...]] = self._source
        return rows


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, send the statements made inside (this module's, and the commit if it is
    inside too) without waiting for each answer: a statement is waited for only when its rows are
    read. Only statements of this module belong inside: SQLAlchemy reads a result at once.
    Elsewhere, nothing changes."""
    if conn.dialect.name != "postgresql":
        yield
        return
    with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]
        yield


def lost(conn: Connection) -> bool:
    """Has this PostgreSQL connection died (the server restarted, the backend was killed)?"""
    if conn.dialect.name != "postgresql":
        return False
    return conn.invalidated or bool(conn.connection.driver_connection.closed)  # type: ignore[union-attr]


def send(conn: Connection, sql: str, params: Sequence[Any], *, prepare: bool | None = None) -> Rows:
    """Run ``sql`` (written with ``?`` marks); its rows when asked (see ``Rows``). ``prepare``:
    see ``_postgresql``."""
    if conn.dialect.name == "sqlite":
        return _sqlite(conn, sql, _adapt(params))
    return _postgresql(conn, marks(sql, "postgresql"), params, prepare=prepare)


def send_in(conn: Connection, sql: str, *, column: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[Rows]:
    """``sql WHERE column IN values`` (``params`` first, for marks before the WHERE), in chunks of
    IN_CHUNK values, one statement each (none for no values): one mark per value on SQLite, one
    array on PostgreSQL, planned anew each time (see ``_postgresql``)."""
    sent = []
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        if conn.dialect.name == "sqlite":
            sent.append(send(conn, f"{sql} WHERE {column} IN ({', '.join('?' * len(chunk))})", [*params, *chunk]))
        else:
            sent.append(send(conn, f"{sql} WHERE {column} = ANY(?)", [*params, list(chunk)], prepare=False))
    return sent


IN_CHUNK = 500  # values per statement of send_in: well under SQLite's limit on marks


def update_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` (written with ``?`` marks) once per row."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(sql, [tuple(_adapt(row)) for row in rows])
    else:
        conn.connection.driver_connection.cursor().executemany(marks(sql, "postgresql"), rows)  # type: ignore[union-attr]


def _sqlite(conn: Connection, sql: str, params: Sequence[Any]) -> Rows:
    result = conn.exec_driver_sql(sql, tuple(params))
    return Rows([tuple(row) for row in result.fetchall()] if result.returns_rows else [])


def _postgresql(conn: Connection, sql: str, params: Sequence[Any], *, prepare: bool | None = None) -> Rows:
    """``prepare=False`` for a statement whose best plan depends on how large a table is now:
    psycopg prepares a statement run five times, and PostgreSQL may then settle on one generic
    plan and keep it for the connection's life unless an ANALYZE comes. For a list of values
    looked up in ``entry``, the generic plan made while the list was small is a sequential scan,
    and the listener's worker went on reading the whole list once per group commit as it grew.
    An unprepared statement is planned for its values and the table each time (tens of µs)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, tuple(params), prepare=prepare)
    return Rows(cursor)


def _values(table: str, columns: Sequence[str], count: int, end: str) -> str:
    """SQLite: ``VALUES (?, …), (?, …)``, one group per row."""
    group = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([group] * count) + end


@lru_cache(maxsize=64)
def _unnest(dialect: Any, table: str, columns: tuple[str, ...], end: str) -> str:
    """PostgreSQL: one array per column, unnested into rows.

    The statement text is the same whatever the number of rows, so psycopg parses it once and
    the server prepares it; a ``VALUES`` list of hundreds of placeholders was split anew by
    psycopg on every call, which cost more than the server's work. One ``unnest`` per array in
    the select list: PostgreSQL steps through the arrays together, row by row, where
    ``FROM unnest(a, b, …)`` first collects every row in a tuplestore (4 % of the server's CPU in an
    import of 1M identifiers: 17.4–17.6 s against 18.1–18.4 s).
    """
    from sqlmodel import SQLModel

    import optout.store.models  # noqa: F401  # the tables, registered on SQLModel's metadata

    types = [SQLModel.metadata.tables[table].c[c].type.compile(dialect=dialect) for c in columns]
    arrays = ", ".join(f"unnest(%b::{t}[])" for t in types)  # %b: sent in binary, no text escaping
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {arrays}"
            + end.replace("%", "%%"))  # psycopg reads a bare % as a placeholder


def _adapt(values: Iterable[Any]) -> list[Any]:
    """Dates and datetimes as text, as SQLAlchemy's SQLite dialect stores them."""
    return [(stamp(v) if v.__class__ is datetime else v.isoformat()) if v.__class__ in _DATES else v
            for v in values]


_DATES = (datetime, date)


@lru_cache(maxsize=256)  # a batch shares a handful of timestamps
def stamp(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores it, so both paths read back alike."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
