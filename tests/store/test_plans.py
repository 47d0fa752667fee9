"""On PostgreSQL a statement is planned for the list as it is now, not as it was when the
connection first ran it: a listener started on an empty list slowed as the list grew, each group
commit reading all of `entry`, because PostgreSQL kept the plan it had settled on while the table
was small (nothing invalidates it where autovacuum is off or has not run yet)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from optout.config import load_settings
from optout.record import entries
from optout.store import bulk, db, models, sql

LONG = 20_000
# PostgreSQL only: SQLite's planner takes the index from the schema, whatever the table's size
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _orders(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n // 10_000_000:07d}-{n % 10_000_000:07d}" for n in range(count)]


def _scans(conn: Connection) -> tuple[int, int]:
    """(rows read by sequential scans, index scans) of `entry` in this transaction so far."""
    found = conn.execute(text("SELECT seq_tup_read, idx_scan FROM pg_stat_xact_user_tables "
                              "WHERE relname = 'entry'")).one()
    return int(found[0] or 0), int(found[1] or 0)


def _fill(conn: Connection, count: int) -> None:
    now = models.utcnow()
    rows: list[tuple[Any, ...]] = [("order", value, None, None, "amazon.com", "listed", now, now, 1, False, now)
                                   for value in _orders("222", count)]
    bulk.insert(conn, table="entry", columns=entries.ENTRY_COLUMNS, rows=rows, tail=sql.ENTRY_UPSERT)


@pytest.mark.postgres
@ON_POSTGRESQL
def test_group_commit_reads_use_the_index_once_the_list_has_grown(database_url: str) -> None:
    engine: Engine = db.group_writer(load_settings())
    asked = _orders("111", 40)  # what a group commit of 20 notices asks about
    try:
        with engine.connect() as conn:
            for _ in range(12):  # past psycopg's threshold for preparing, and PostgreSQL's five custom plans
                with conn.begin():
                    assert entries.Statuses(conn, values=asked).answer() == {}
            with conn.begin():
                _fill(conn, LONG)
            with conn.begin():
                assert entries.Statuses(conn, values=[*asked, "222-0000000-0000007"]).answer() == {
                    "222-0000000-0000007": "listed"}
                read, index_scans = _scans(conn)
    finally:
        engine.dispose()
    assert index_scans >= 1 and read < LONG // 10, f"read {read} rows of entry by sequential scan"

