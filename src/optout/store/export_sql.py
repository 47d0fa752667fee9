"""The export's SQL: one SELECT per scope, built for the dialect, and rows straight off the
driver's cursor. The database shapes each field (ISO times, true/false, expiry, CSV quoting and
spreadsheet neutralising), which is what lets the export stream a million rows a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from optout.clock import utcnow
from optout.store.bulk import stamp
from optout.store.sql import marks

BATCH = 10_000
COLUMNS = ["kind", "value", "buyer_email", "order_ids", "marketplace", "status", "first_seen",
           "last_seen", "reports", "verified", "removed_at", "removed_reason"]


def rows(conn: Connection, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows straight from the driver's cursor (SQLAlchemy's Row wrapping costs more than the
    CSV writer): fetchmany on SQLite, a named server-side cursor on PostgreSQL. ``sql`` is
    written with ``?`` marks, as everything in store/sql.py."""
    driver: Any = conn.connection.driver_connection  # sqlite3 or psycopg: both DB-API
    dialect = conn.dialect.name
    if dialect == "sqlite":
        cursor = driver.cursor()
        params = [stamp(v) if isinstance(v, datetime) else v for v in params]
    else:
        cursor = driver.cursor(name="optout_export")
        cursor.itersize = BATCH
    cursor.execute(marks(sql, dialect), params)
    try:
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()  # however the consumer stops


def query(conn: Connection, *, since: datetime | None, expire_days: int | None, csv: bool) -> tuple[str, list[Any]]:
    """The SELECT for a scope: one column per field, or (csv) one finished CSV line per row."""
    dialect = conn.dialect.name
    now = utcnow()
    cutoff = now - timedelta(days=expire_days) if expire_days else None
    fields = _fields(dialect, expiring=cutoff is not None)
    if csv:
        fields = [_csv_field(dialect, expr, name) for name, expr in zip(COLUMNS, fields)]
        select = "SELECT " + " || ',' || ".join(fields) + " FROM entry WHERE "
    else:
        select = "SELECT " + ", ".join(fields) + " FROM entry WHERE "
    where, params = _where(since, cutoff, now)
    params = ([cutoff] if cutoff else []) + params  # the status field's mark comes first
    return select + where + " ORDER BY id", params  # table order: a scan, not an index walk


def _fields(dialect: str, *, expiring: bool) -> list[str]:
    """SQL for each of COLUMNS: times as ISO 8601 UTC, verified as true/false, expiry marked."""
    status = "CASE WHEN status = 'listed' AND last_seen < ? THEN 'expired' ELSE status END" if expiring else "status"
    return ["kind", "value", "buyer_email", "order_ids", "marketplace", status, _iso_sql(dialect, "first_seen"),
            _iso_sql(dialect, "last_seen"), "report_count", "CASE WHEN verified THEN 'true' ELSE 'false' END",
            _iso_sql(dialect, "removed_at"), "removed_reason"]


def _iso_sql(dialect: str, column: str) -> str:
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff': cut, cheaper than strftime
        return f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || 'Z'"
    return f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


_FREE_TEXT = ("value", "buyer_email", "removed_reason")  # text a person or a sender chose
_NULLABLE = ("buyer_email", "order_ids", "marketplace", "removed_at", "removed_reason")


def _csv_field(dialect: str, expr: str, name: str) -> str:
    """A field as it goes into a CSV line: NULL as empty; free text neutralised for spreadsheets
    (a leading = + - @ tab or CR gets an apostrophe); a reason quoted as RFC 4180 wants.
    (Addresses need no quoting: normalised addresses hold no comma, quote or line break.)"""
    if name in _FREE_TEXT:
        char, find = ("char", "instr") if dialect == "sqlite" else ("chr", "strpos")
        formula = f"{find}('=+-@' || {char}(9) || {char}(13), substr({expr}, 1, 1)) > 0"
        expr = f"(CASE WHEN {formula} THEN '''' || {expr} ELSE {expr} END)"
        if name == "removed_reason":
            special = " OR ".join(f"{find}({expr}, {c}) > 0" for c in ("','", "'\"'", f"{char}(10)", f"{char}(13)"))
            expr = f"(CASE WHEN {special} THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END)"
    return f"COALESCE({expr}, '')" if name in _NULLABLE else f"({expr})"


def _where(since: datetime | None, cutoff: datetime | None, now: datetime) -> tuple[str, list[Any]]:
    if since is None:
        # no index on status (most entries are listed): a scan in id order, which ORDER BY id
        # then needs no sort for
        return ("status = 'listed' AND last_seen >= ?", [cutoff]) if cutoff else ("status = 'listed'", [])
    if not cutoff:
        return "updated_at >= ?", [since]
    # entries that expired since then changed too, without being touched
    return ("(updated_at >= ? OR (status = 'listed' AND last_seen < ? AND last_seen >= ?))",
            [since, cutoff, since - (now - cutoff)])
