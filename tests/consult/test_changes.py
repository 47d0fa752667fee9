"""The changes feed's rules on a real database of each kind: nothing is skipped at a page
boundary between changes stamped alike, a change that commits late is still served, and an
entry that expires changes without being written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text, update

from optout.consult import changes
from optout.errors import OptoutError
from optout.store.models import Entry, table
from optout.store.reader import Reader

ENTRY = table(Entry)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _page(engine, after: changes.Cursor, *, limit: int = 100, settle: float = 0, expire_days: int | None = None):  # noqa: ANN001, ANN202
    conn = engine.raw_connection()
    try:
        return changes.page(Reader.pooled(conn, engine.dialect.name), after=after, limit=limit, expire_days=expire_days, settle=settle)
    finally:
        conn.close()


def _seed(cli, *values: str) -> None:  # noqa: ANN001
    for value in values:
        assert cli("add", value, "--reason", "seed").exit_code == 0


def _stamp(engine, values: list[str], **columns: datetime) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(update(ENTRY).where(ENTRY.c.value.in_(values)).values(**columns))


def test_pages_of_one_lose_nothing_among_equal_times(cli, engine) -> None:
    """Five entries stamped in the same microsecond, read one a page: each exactly once."""
    values = [f"b{i}@example.com" for i in range(5)]
    _seed(cli, *values)
    _stamp(engine, values, updated_at=_now() - timedelta(minutes=5))
    seen, after = [], changes.START
    while True:
        page = _page(engine, after, limit=1)
        seen += [c["value"] for c in page.changes]
        after = page.next
        if not page.more:
            break
    assert sorted(seen) == values and len(seen) == 5


def test_a_late_commit_is_served_within_the_settle_window(cli, engine) -> None:
    """With settle 60 s, the cursor never passes now − 60 s: a write stamped 30 s ago that
    commits only now (a long import) still comes on the next poll; a fresh one waits."""
    _seed(cli, "early@example.com")
    _stamp(engine, ["early@example.com"], updated_at=_now() - timedelta(minutes=10))
    first = _page(engine, changes.START, settle=60)
    assert [c["value"] for c in first.changes] == ["early@example.com"]
    _seed(cli, "late@example.com", "fresh@example.com")
    _stamp(engine, ["late@example.com"], updated_at=_now() - timedelta(seconds=30))
    second = _page(engine, first.next, settle=60)
    assert second.changes == [] and second.next == first.next  # both too fresh to serve yet
    third = _page(engine, first.next, settle=20)
    assert [c["value"] for c in third.changes] == ["late@example.com"]


def test_expiry_is_a_change(cli, engine) -> None:
    """With expire_days 30, an entry last seen 31 days ago (and not written since) comes as
    expired, at last_seen + 30 days; one seen yesterday stays listed."""
    _seed(cli, "old@example.com", "recent@example.com")
    long_ago = _now() - timedelta(days=31)
    _stamp(engine, ["old@example.com"], last_seen=long_ago, updated_at=long_ago)
    after = changes.Cursor(_now() - timedelta(days=2), 0)
    page = _page(engine, after, expire_days=30)
    found = {c["value"]: c for c in page.changes}
    assert found["old@example.com"]["status"] == "expired"
    assert found["old@example.com"]["changed_at"] == (long_ago + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert found["recent@example.com"]["status"] == "listed"
    assert [c["value"] for c in _page(engine, page.next, expire_days=30).changes] == []


def test_cursors_round_trip_and_bad_ones_are_refused() -> None:
    """A cursor's token reads back as itself; an ISO time is accepted; anything else is a
    one-line error naming both forms."""
    at = datetime(2026, 11, 21, 2, 30, 0, 123456)
    assert changes.cursor(changes.Cursor(at, 42).token()) == changes.Cursor(at, 42)
    assert changes.cursor("2026-11-21T02:30:00Z") == changes.Cursor(datetime(2026, 11, 21, 2, 30), 0)
    assert changes.cursor("2026-11-21T03:30:00+01:00") == changes.Cursor(datetime(2026, 11, 21, 2, 30), 0)
    for bad in ("yesterday", "MjAyNg", "%%%"):
        with pytest.raises(OptoutError, match="ISO 8601"):
            changes.cursor(bad)


def test_the_feed_reads_by_index(cli, engine) -> None:
    """Both reads walk an index, not the table (a full sync of a million entries pages
    through it): the plans name ix_entry_updated and ix_entry_last_seen."""
    from optout.store import sql

    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    for statement, index in ((sql.CHANGED_AFTER, "ix_entry_updated"), (sql.EXPIRED_AFTER, "ix_entry_last_seen")):
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))  # an empty table: ask whether it can
            now = _now().strftime("%Y-%m-%d %H:%M:%S.%f")
            plan = conn.exec_driver_sql(explain + sql.marks(statement, engine.dialect.name),
                                        (now, now, 0, now, 10)).all()
        assert index in " ".join(str(row) for row in plan), plan
