"""On PostgreSQL a lookup is planned for the list as it is, not as it was when its connection
first ran it. After five runs of a prepared statement PostgreSQL may settle on a generic plan and
keep it for the connection's life unless an ANALYZE invalidates it (none comes where autovacuum
is off or has not run yet): the lookup's, made on an empty list, is a sequential scan, and stayed
one after the list had grown to 200,000 entries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from optout.config import load_settings
from optout.consult import lookup
from optout.record import entries
from optout.store import bulk, db, models, sql
from optout.store.reader import Reader
from waiting import until

LONG = 200_000  # a lookup joins a list of values to `entry`: the index wins once the list is long
# PostgreSQL only: SQLite's planner takes the index from the schema, whatever the table's size
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
ASKED = [f"111-0000000-{n:07d}" for n in range(40)]
LISTED = "222-0000000-0000007"


def _fill(count: int = LONG) -> None:
    now = models.utcnow()
    rows: list[tuple[Any, ...]] = [("order", f"222-{n // 10_000_000:07d}-{n % 10_000_000:07d}", None, None,
                                    "amazon.com", "listed", now, now, 1, False, now) for n in range(count)]
    engine = db.writer(load_settings())
    try:
        with engine.begin() as conn:
            bulk.insert(conn, table="entry", columns=entries.ENTRY_COLUMNS, rows=rows, tail=sql.ENTRY_UPSERT)
    finally:
        engine.dispose()


def _grown_list_read_by_index(reader: Reader, grow: Callable[[], None] = _fill) -> None:
    """Twelve lookups on the empty list (enough for a generic plan), then the list grows; the
    next lookup on the same connection must find its entry through the index."""
    for _ in range(12):
        assert lookup.listed_values(reader, ASKED, cutoff=None) == set()
    grow()
    reader.run("BEGIN")  # the reader commits each statement: one transaction, to count its reads
    try:
        assert lookup.listed_values(reader, [*ASKED, LISTED], cutoff=None) == {LISTED}
        read, index_scans = (int(n or 0) for n in reader.run(
            "SELECT seq_tup_read, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'entry'").fetchone())
    finally:
        reader.run("COMMIT")
    # the insert's own index probes are in the count too (statistics not yet flushed): only the
    # sequential reads tell the plan apart
    assert index_scans >= 1 and read < LONG // 10, f"read {read} rows of entry by sequential scan"


@pytest.mark.postgres
@ON_POSTGRESQL
def test_a_long_check_plans_each_lookup_for_the_list_as_it_is(database_url: str) -> None:
    """`optout check -` may read its input for days on one connection while the list grows."""
    reader = db.reader(load_settings())
    try:
        _grown_list_read_by_index(reader)
    finally:
        reader.close()


@pytest.mark.postgres
@ON_POSTGRESQL
def test_the_http_sides_lookup_connections_are_replaced_within_their_lifetime(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """GET lookups keep PostgreSQL's cached plans (planning costs more than the lookup), so their
    connections, and the plans with them, are replaced every `http_db_lifetime` seconds."""
    from optout.http.store import Store

    monkeypatch.setenv("OPTOUT_HTTP_DB_CONNECTIONS", "1")
    monkeypatch.setenv("OPTOUT_HTTP_DB_LIFETIME", "0.5")

    def second_backend_answers() -> None:
        loop = asyncio.new_event_loop()  # the pool's upkeep runs while each look does
        store = Store(load_settings())
        seen: set[int] = set()

        def look() -> bool:
            seen.add(loop.run_until_complete(store.one("SELECT pg_backend_pid()", ()))[0])
            return len(seen) >= 2

        try:
            until(look, what="a second backend to answer the lookups")
        finally:
            loop.run_until_complete(store.aclose())
            loop.close()

    # in a thread of its own: a browser test earlier in the run leaves an event loop in this one
    with ThreadPoolExecutor(1) as apart:
        apart.submit(second_backend_answers).result()


@pytest.mark.postgres
@ON_POSTGRESQL
def test_an_import_makes_every_connection_plan_for_the_grown_list(database_url: str, cli: Any, tmp_path: Path) -> None:
    """A connection that keeps its plans (as the HTTP side's GET pool does) drops them when
    `optout import` has analysed the list it grew: its next lookup uses the index."""
    import psycopg

    source = tmp_path / "list.txt"
    source.write_text("".join(f"222-{n // 10_000_000:07d}-{n % 10_000_000:07d}\n" for n in range(LONG)))

    def grow() -> None:
        done = cli("import", str(source), "--quiet")
        assert done.exit_code == 0, done.output

    kept = psycopg.connect(database_url, autocommit=True)  # no plan_cache_mode: plans are kept
    try:
        _grown_list_read_by_index(Reader(kept, "postgresql"), grow)
    finally:
        kept.close()


@pytest.mark.postgres
@ON_POSTGRESQL
def test_the_listeners_group_commit_reads_the_grown_list_by_index(database_url: str) -> None:
    """The listener's worker keeps its connection for the listener's life: the statuses of a
    group's values, asked once per group commit, are looked up for the list as it is. (Its plan
    made on the empty list read the whole list once per group: 600 notices/s from 1,200 within
    25,000 notices.)"""
    engine = db.group_writer(load_settings())
    try:
        with engine.connect() as conn:
            for _ in range(12):
                with conn.begin():
                    assert entries.Statuses(conn, values=ASKED).answer() == {}
            _fill()
            with conn.begin():
                assert entries.Statuses(conn, values=[*ASKED, LISTED]).answer() == {LISTED: "listed"}
                read = conn.exec_driver_sql("SELECT seq_tup_read FROM pg_stat_xact_user_tables "
                                            "WHERE relname = 'entry'").scalar_one()
        assert read < LONG // 10, f"read {read} rows of entry by sequential scan"
    finally:
        engine.dispose()
