"""Many rows in one INSERT, and the reads beside it, at the driver: the path for imports and
group commits.

SQLAlchemy's per-row parameter processing costs more than SQLite's own work when a statement
carries thousands of rows, so these statements are written as SQL text (portable between SQLite
and PostgreSQL: ``ON CONFLICT``, ``excluded``, ``RETURNING``) and handed to the driver: on
SQLite as a ``VALUES`` list, on PostgreSQL as one array per column. Values are adapted here
the way SQLAlchemy would store them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

from optout.store.sql import marks, rows_per_statement


def insert(conn: Connection, *, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
           tail: str, returning: str | None = None) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (columns) … tail [RETURNING …]`` in chunks; the returned rows."""
    end = f" {tail}" + (f" RETURNING {returning}" if returning else "")
    found: list[tuple[Any, ...]] = []
    step = rows_per_statement(conn.dialect.name, len(columns))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        if conn.dialect.name == "sqlite":
            sql, params = _values(table, columns, len(chunk), end), _adapt(v for row in chunk for v in row)
        else:
            sql, params = _unnest(conn.dialect, table, tuple(columns), end), [list(col) for col in zip(*chunk)]
        result = conn.exec_driver_sql(sql, tuple(params))
        if returning:
            found.extend(tuple(r) for r in result.fetchall())
    return found


def _values(table: str, columns: Sequence[str], count: int, end: str) -> str:
    """SQLite: ``VALUES (?, …), (?, …)``, one group per row."""
    group = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([group] * count) + end


@lru_cache(maxsize=64)
def _unnest(dialect: Any, table: str, columns: tuple[str, ...], end: str) -> str:
    """PostgreSQL: one array per column, unnested into rows.

    The statement text is the same whatever the number of rows, so psycopg parses it once and
    the server prepares it; a ``VALUES`` list of hundreds of placeholders was split anew by
    psycopg on every call, which cost more than the server's work.
    """
    from optout.store.models import SQLModel

    types = [SQLModel.metadata.tables[table].c[c].type.compile(dialect=dialect) for c in columns]
    arrays = ", ".join(f"%b::{t}[]" for t in types)  # %b: sent in binary, no text escaping
    return (f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
            + end.replace("%", "%%"))  # psycopg reads a bare % as a placeholder


def fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """A query on the group-commit path as SQL text at the driver, written with ``?`` marks.

    Building and caching a SQLAlchemy select (an expanding IN, especially) cost a group
    commit more than SQLite took to answer it.
    """
    if conn.dialect.name == "sqlite":
        params = _adapt(params)
    return [tuple(row) for row in conn.exec_driver_sql(marks(sql, conn.dialect.name), tuple(params)).fetchall()]


def fetch_in(conn: Connection, sql: str, *, column: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``sql WHERE column IN values``: one placeholder per value on SQLite, one array on PostgreSQL
    (so the statement text stays the same and is parsed and prepared once)."""
    if conn.dialect.name == "sqlite":
        return fetch(conn, f"{sql} WHERE {column} IN ({', '.join('?' * len(values))})", values)
    return fetch(conn, f"{sql} WHERE {column} = ANY(?)", [list(values)])


def _adapt(values: Iterable[Any]) -> list[Any]:
    """Dates and datetimes as text, as SQLAlchemy's SQLite dialect stores them."""
    return [(stamp(v) if v.__class__ is datetime else v.isoformat()) if v.__class__ in _DATES else v
            for v in values]


_DATES = (datetime, date)


@lru_cache(maxsize=256)  # a batch shares a handful of timestamps
def stamp(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores it, so both paths read back alike."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
