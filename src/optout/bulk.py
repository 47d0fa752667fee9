"""Many rows in one INSERT, at the driver: the path for imports and group commits.

SQLAlchemy's per-row parameter processing costs more than SQLite's own work when a statement
carries thousands of rows, so these statements are written as SQL text (portable between SQLite
and PostgreSQL: ``ON CONFLICT``, ``excluded``, ``RETURNING``) and handed to the driver with
its own placeholder. Values are adapted here the way SQLAlchemy would store them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection

ROWS_PER_STATEMENT = 1000  # x ~12 columns: well under SQLite's 32,766 and PostgreSQL's 65,535


def insert(conn: Connection, *, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
           tail: str, returning: str | None = None) -> list[tuple[Any, ...]]:
    """``INSERT INTO table (columns) VALUES … tail [RETURNING …]`` in chunks; returned rows."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    group = "(" + ", ".join([mark] * len(columns)) + ")"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    end = f" {tail}" + (f" RETURNING {returning}" if returning else "")
    if not sqlite:
        end = end.replace("%", "%%")  # psycopg reads a bare % as a placeholder
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        if sqlite:
            params = [_stored(v) if v.__class__ in _DATES else v for row in chunk for v in row]
        else:
            params = [v for row in chunk for v in row]
        result = conn.exec_driver_sql(head + ", ".join([group] * len(chunk)) + end, tuple(params))
        if returning:
            found.extend(tuple(r) for r in result.fetchall())
    return found


def fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """A query on the group-commit path as SQL text at the driver, written with ``?`` marks.

    Building and caching a SQLAlchemy select (an expanding IN, especially) cost a group
    commit more than SQLite took to answer it.
    """
    if conn.dialect.name == "sqlite":
        params = [_stored(v) if v.__class__ in _DATES else v for v in params]
    else:
        sql = sql.replace("?", "%s")
    return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(params)).fetchall()]


def _stored(value: date) -> str:
    return stamp(value) if value.__class__ is datetime else value.isoformat()


_DATES = (datetime, date)


@lru_cache(maxsize=256)  # a batch shares a handful of timestamps
def stamp(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores it, so both paths read back alike."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
