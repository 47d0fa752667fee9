"""Mail carrying several notices, through the real listener on each database: every notice
listed with its own evidence, the reply counting them, and the twins listing nothing; the same
through `optout parse`, `optout ingest` and the seller page's data."""

from __future__ import annotations

import json
import smtplib
import subprocess

import pytest
from sqlalchemy import text

import mail
from batches import LOOKALIKE, batch, buyer_message, notice, order
from conftest import require_tool


def _send(port: int, rcpt: str, raw: bytes) -> tuple[int, str]:
    """The server's reply to DATA, as (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo()
        client.mail("sam@seller-shop.example")
        client.rcpt(rcpt)
        code, said = client.data(raw)
        return code, said.decode()


@pytest.mark.parametrize("lang", ["en", "fr", "de", "ja"])
def test_a_batch_of_attached_notices_lists_every_one(cli, account, listener, engine, lang) -> None:
    """Twenty notices attached (messages and octet-stream .eml files, with a relay and a PDF among
    them): all twenty listed, one report each naming its part, the reply says 20 listed."""
    parts: list = [notice(lang, n) if n % 2 else mail.as_bytes(notice(lang, n)) for n in range(20)]
    parts[3:3] = [buyer_message(99), ("invoice.pdf", b"%PDF-1.4")]
    code, said = _send(listener.port, account["address"], batch(parts))
    assert code == 250 and "20 notice(s), 20 listed" in said, said
    assert all(r["listed"] for r in cli.checks(*(order(n) for n in range(20))))
    assert cli.checks(order(99))[0]["listed"] is False  # the buyer's own message
    with engine.connect() as conn:
        notes = conn.execute(text("SELECT note FROM report ORDER BY id")).scalars().all()
        messages = conn.execute(text("SELECT outcome, reason FROM message")).all()
    assert len(notes) == 20 and all("[attachment " in note for note in notes)
    assert messages == [("listed", "20 opt-out notices: 20 listed")]


def test_two_notices_one_inline_one_attached_in_a_forward_of_a_forward(cli, account, listener) -> None:
    """A colleague's forward quoting a notice, forwarded again with another notice attached, and
    its twin from a look-alike: the first lists both, the twin nothing."""
    inline = ("---------- Forwarded message ---------\nFrom: Col League <col@seller-shop.example>\n"
              "Date: Tue, 3 Mar 2026\nSubject: Fwd: notice\nTo: <sam@seller-shop.example>\n\n\n"
              "---------- Forwarded message ---------\nFrom: Amazon <auto-communication@amazon.de>\n"
              f"Date: Tue, 3 Mar 2026\nTo: <col@seller-shop.example>\n\n{mail.body('de', order(41))}")
    code, said = _send(listener.port, account["address"], batch([notice("ja", 42)], note=inline))
    assert code == 250 and "2 notice(s), 2 listed" in said, said
    twin = inline.replace("auto-communication@amazon.de", LOOKALIKE)
    code, said = _send(listener.port, account["address"], batch([notice("ja", 43, sender=LOOKALIKE)], note=twin))
    assert code == 250 and said.endswith("quarantined"), said
    assert [r["listed"] for r in cli.checks(order(41), order(42), order(43))] == [True, True, False]


def test_the_same_batch_again_is_a_duplicate_and_its_notices_are_known(cli, account, listener) -> None:
    """Sent twice: the second is a duplicate; a new mail holding some of the same notices lists
    only the new ones."""
    first = batch([notice("en", n) for n in range(3)])
    assert "3 notice(s), 3 listed" in _send(listener.port, account["address"], first)[1]
    assert "duplicate" in _send(listener.port, account["address"], first)[1]
    overlap = batch([notice("en", n) for n in range(2, 5)], note="again, with two new")
    code, said = _send(listener.port, account["address"], overlap)
    assert code == 250 and "3 notice(s), 2 listed" in said, said


def test_twin_batches_list_nothing_through_the_listener(cli, account, listener, engine) -> None:
    """Look-alikes and relays in the same shapes: kept for review, nothing listed."""
    raw = batch([notice("en", n, sender=LOOKALIKE) for n in range(3)] + [buyer_message(7)])
    code, said = _send(listener.port, account["address"], raw)
    assert code == 250 and said.endswith("quarantined"), said
    assert not any(r["listed"] for r in cli.checks(*(order(n) for n in (0, 1, 2, 7))))


@pytest.mark.listener(daily_new_entries_limit=2)
def test_the_volume_guard_counts_each_notice(cli, account, listener, engine) -> None:
    """With a daily limit of 2, a five-notice mail lists two, holds three, and waits for review."""
    code, said = _send(listener.port, account["address"], batch([notice("de", n) for n in range(5)]))
    assert code == 250 and "5 notice(s), 2 listed" in said and "held" in said, said
    with engine.connect() as conn:
        outcome, reason = conn.execute(text("SELECT outcome, reason FROM message")).one()
    assert outcome == "held" and reason.startswith("5 opt-out notices: 3 held, 2 listed")
    assert [r["listed"] for r in cli.checks(*(order(n) for n in range(5)))] == [True, True, False, False, False]


def test_raw_utf8_headers_through_smtputf8(cli, account, listener, engine) -> None:
    """A notice with an 8-bit UTF-8 Subject, sent with SMTPUTF8: listed, and the quarantine of a
    twin shows the Subject as written."""
    raw = mail.as_bytes(notice("en", 1)).replace(b"Subject: Your message to a buyer could not be delivered",
                                                 "Subject: Sua mensagem não pôde ser entregue".encode())
    twin = mail.as_bytes(notice("en", 2, sender=LOOKALIKE)).replace(
        b"Subject: Your message to a buyer could not be delivered", "Subject: não pôde".encode())
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        for raw_mail in (raw, twin):
            client.sendmail("sam@seller-shop.example", [account["address"]], raw_mail, mail_options=["SMTPUTF8"])
    assert cli.checks(order(1))[0]["listed"]
    from optout.consult import seller

    with engine.connect() as conn:
        assert [k["subject"] for k in seller.quarantine(conn, account_id=None)] == ["não pôde"]


def test_swaks_sends_a_pasted_batch(cli, account, listener) -> None:
    """swaks delivers notices pasted one after another: each listed."""
    body = "Four notices:\n\n" + "\n".join(f"---------- Forwarded message ---------\nFrom: Amazon <auto-communication@amazon.fr>\n"
                     f"Date: 3 Mar 2026\nTo: <sam@seller-shop.example>\n\n{mail.body('fr', order(n))}"
                     for n in range(4))
    done = subprocess.run(
        [require_tool("swaks", "swaks"), "--server", f"127.0.0.1:{listener.port}", "--to", account["address"],
         "--from", "sam@seller-shop.example", "--header", "Subject: Fwd: four", "--body", body],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "4 notice(s), 4 listed" in done.stdout, done.stdout[-2000:]


def test_parse_prints_one_line_per_notice(bare_cli, tmp_path) -> None:
    """`optout parse --json` on a batch: one line per notice, its part in source; a non-notice one line."""
    (tmp_path / "backlog.eml").write_bytes(batch([notice("en", n) for n in range(3)]))
    (tmp_path / "other.eml").write_bytes(batch([buyer_message(1)]))
    result = bare_cli("parse", "--json", str(tmp_path / "backlog.eml"), str(tmp_path / "other.eml"))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["source"].rsplit("/", 1)[1], x["order_id"], x["part"]) for x in lines] == [
        ("backlog.eml#1", order(0), "attachment 1"), ("backlog.eml#2", order(1), "attachment 2"),
        ("backlog.eml#3", order(2), "attachment 3"), ("other.eml", None, None)]


def test_ingest_lists_every_notice_of_a_batch(cli, account, tmp_path) -> None:
    """`optout ingest` of a folder with a batch counts and lists each notice; again: nothing new."""
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "a.eml").write_bytes(batch([notice("fr", n) for n in range(6)]))
    first = json.loads(cli("ingest", str(tmp_path / "box"), "--account", "acme", "--json").stdout)
    assert (first["messages"], first["notices"], first["new_entries"]) == (1, 6, 6)
    again = json.loads(cli("ingest", str(tmp_path / "box"), "--account", "acme", "--json").stdout)
    assert (again["new_entries"], again["duplicates"]) == (0, 1)


def test_the_seller_page_shows_every_order_of_a_batch(cli, account, listener, engine) -> None:
    """The seller page's message list names each order a batch listed."""
    from optout.consult import seller

    _send(listener.port, account["address"], batch([notice("de", n) for n in range(3)]))
    with engine.connect() as conn:
        account_id = conn.execute(text("SELECT id FROM account")).scalar_one()
        rows, _ = seller.messages(conn, account_id=account_id, page=1, size=10)
    assert rows[0]["orders"] == [order(0), order(1), order(2)]
