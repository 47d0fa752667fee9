"""One group commit as the listener's worker makes it: what each message became, as the worker
answers and as its row keeps it, on both databases. On PostgreSQL its statements and commit go
out together (psycopg's pipeline mode), and a new message's row is written once, with the
verdict it is expected to get; a row the list decided otherwise (known, duplicate, held) is
updated. Both paths are here."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest
from sqlalchemy import text

import mail
from optout.config import load_settings
from optout.listener.protocol import Delivery
from optout.listener.worker import Worker
from waiting import until


@pytest.fixture
def worker(account, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("OPTOUT_DAILY_NEW_ENTRIES_LIMIT", "3")
    started = Worker.start(load_settings())
    yield started
    started.engine.dispose()
    started.reads.dispose()


def _account_id(worker: Worker, slug: str) -> int:
    with worker.engine.connect() as conn:
        return conn.execute(text("SELECT id FROM account WHERE slug = :slug"), {"slug": slug}).scalar_one()


def _group(worker: Worker, account_id: int, *raws: bytes) -> list[tuple[int, list]]:
    """``raws`` for one account, recognised as the worker does on arrival: a group to commit."""
    return [(n, worker.recognise(Delivery(raw, "seller-notification@amazon.com", "127.0.0.1",
                                           (("x@ingest.example.net", account_id),))))
            for n, raw in enumerate(raws)]


def _commit(worker: Worker, account_id: int, *raws: bytes) -> list[tuple[str, str | None]]:
    """One group of ``raws`` for one account: (outcome, reason) of each, as the worker answers."""
    replies = worker.commit(_group(worker, account_id, *raws))
    assert all(reply.error is None for reply in replies), replies
    return [(reply.outcomes[0].outcome, reply.outcomes[0].reason) for reply in replies]


def _rows(worker: Worker) -> list[tuple[str, str | None]]:
    with worker.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT outcome, reason FROM message ORDER BY id"))]


def _notice(order: str, msgid: str) -> bytes:
    return mail.as_bytes(mail.notice("en", order, msgid=f"<{msgid}@amazon.com>"))


def test_each_outcome_is_answered_and_kept(cli, worker) -> None:
    assert cli("accounts", "add", "beta", "--json").exit_code == 0
    acme, beta = _account_id(worker, "acme"), _account_id(worker, "beta")
    chat = EmailMessage()
    chat["From"], chat["To"], chat["Subject"] = "friend@example.com", mail.INGEST, "lunch?"
    chat.set_content("See you at noon.")
    first = _notice("301-0000000-0000001", "a")

    answered = _commit(worker, acme, first, _notice("301-0000000-0000001", "b"), mail.as_bytes(chat), first)
    answered += _commit(worker, beta, _notice("301-0000000-0000001", "c"))
    answered += _commit(worker, acme, _notice("301-0000000-0000001", "d"))
    answered += _commit(worker, acme, *(_notice(f"301-0000000-000000{i}", f"e{i}") for i in (2, 3, 4)))

    outcomes = [outcome for outcome, _ in answered]
    assert outcomes == ["listed", "duplicate", "quarantined", "duplicate",  # the fourth: the first again
                        "known",  # another account listed it already
                        "duplicate",  # this account reported it before
                        "listed", "listed", "held"]  # the volume guard's third new entry today
    assert "twice at once" in answered[1][1] and "received before" in answered[3][1]
    assert "reported it before" in answered[5][1] and "over 3 new entries" in answered[8][1]
    kept = answered[:3] + answered[4:]  # a message received before has no second row
    assert _rows(worker) == kept
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["entries_listed"] == 3 and stats["held_by_volume_guard"] == 1


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_group_that_deadlocks_with_another_writer_is_tried_again(worker, database_url) -> None:
    """Another listener's transaction holds the second message of this group and then asks for
    the first: PostgreSQL breaks the deadlock by rolling this group back. It is tried again, so
    its messages get their 250 rather than a 451."""
    import psycopg

    account_id = _account_id(worker, "acme")
    first, second = _notice("302-0000000-0000001", "f"), _notice("302-0000000-0000002", "g")
    group = _group(worker, account_id, first, second)
    claim = ("INSERT INTO message (account_id, sha256, size, source, received_at, kind, outcome) "
             "VALUES (%s, %s, 0, 'smtp', now(), 'other', 'quarantined')")
    with psycopg.connect(database_url) as rival, ThreadPoolExecutor(max_workers=1) as pool:
        rival.execute("SET deadlock_timeout = '60s'")  # the group's own check (1 s) finds the cycle
        rival.execute(claim, (account_id, hashlib.sha256(second).hexdigest()))
        replies = pool.submit(worker.commit, group)
        until(lambda: rival.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'").fetchone() == (1,),
              what="the group to wait for the rival's row")
        rival.execute(claim, (account_id, hashlib.sha256(first).hexdigest()))  # the cycle
        rival.rollback()
        answered = replies.result(timeout=30)
    assert [reply.error for reply in answered] == [None, None]
    assert [reply.outcomes[0].outcome for reply in answered] == ["listed", "listed"]
    assert [outcome for outcome, _ in _rows(worker)] == ["listed", "listed"]
