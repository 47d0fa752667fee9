"""The one exception type that carries a message meant for the person at the terminal, and the
two rules every face shares about other errors: is the database away (so the caller should try
again), and what is the first line of an error (for a log line or a one-line message)."""

from __future__ import annotations


class OptoutError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 2."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's text (a driver's own, beneath SQLAlchemy's wrapper), cut to
    ``limit`` characters; the error's class name when it says nothing."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def is_database_error(exc: BaseException) -> bool:
    """Raised by the database or its driver (as against a bug of ours)."""
    return type(exc).__module__.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg", "psycopg_pool")


def is_conflict(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back to break a deadlock or a serialization failure
    between writers (SQLSTATE class 40): the same transaction, tried again, goes through."""
    sqlstate = getattr(getattr(exc, "orig", None) or exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("40")


def is_outage(exc: BaseException) -> bool:
    """The database cannot answer now: unreachable, restarting, locked, out of space, a broken
    connection, no connection free in time. A retry can mend it (SMTP 451, HTTP 503). Bad data
    (a NUL byte on PostgreSQL, a value too long) and our own mistakes are not outages: retrying
    them would fail the same way."""
    import sqlite3

    from sqlalchemy import exc as sa

    if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError,
                        sqlite3.OperationalError, sqlite3.InterfaceError)):
        return True
    if type(exc).__module__.startswith("psycopg"):
        import psycopg

        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or \
            type(exc).__module__.startswith("psycopg_pool")
    return False
