"""The listener end to end: a real server on localhost, real clients (smtplib, swaks)."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import mail
from conftest import bounce_files, require_tool
from samples import EXPECTED, SAMPLES
from waiting import greeting, until


def _send(port: int, rcpts: list[str] | str, raw: bytes, sender: str = "sender@example.com") -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(sender, rcpts, raw)


def _routes(port: int, address: str) -> bool:
    """Does the listener accept ``address`` at RCPT now?"""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("a@example.com")
        return client.rcpt(address)[0] == 250


def test_every_sample_form_end_to_end(cli, account, listener) -> None:
    """Direct, auto-forward, inline forward, confirmation and a buyer's message, over SMTP."""
    for raw in SAMPLES.values():
        assert _send(listener.port, account["address"], raw) == {}
    orders = [e["order_id"] for e in EXPECTED.values() if e["kind"] == "optout_notice"]
    assert all(r["listed"] for r in cli.checks(*orders, "k3v9xq2mz7p4w1r@marketplace.amazon.de"))
    assert cli.checks("113-5550001-2223334")[0]["listed"] is False  # the buyer's own message
    shown = json.loads(cli("accounts", "show", "acme", "--json").stdout)
    assert shown["confirmations"][0]["code"] == "418230771"
    quarantined = [json.loads(x) for x in cli("quarantine", "list", "--json").stdout.splitlines()]
    assert len(quarantined) == 1 and quarantined[0]["reason"] == "no opt-out wording"


def test_swaks_delivers_a_notice(cli, account, listener, notices) -> None:
    """swaks, a real SMTP client, delivers a notice that lands on the list."""
    done = subprocess.run(
        [require_tool("swaks", "swaks"), "--server", f"127.0.0.1:{listener.port}", "--to", account["address"],
         "--from", "seller-notification@amazon.com", "--data", str(notices / "fr-direct.eml")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "250 2.0.0" in done.stdout
    assert cli.checks("403-4565603-0457311")[0]["listed"]


def test_unknown_recipient_and_routing_rules(cli, account, listener) -> None:
    """550 5.1.1 for strangers; case and +tag do not matter; To: is never used for routing."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(listener.port, "nobody@ingest.example.net", mail.as_bytes(mail.notice()))
    assert list(refused.value.recipients.values())[0][0] == 550
    local, domain = account["address"].split("@")
    raw = mail.as_bytes(mail.notice("en", "111-2222222-3333333", to="someone-else@ingest.example.net"))
    assert _send(listener.port, f"{local.upper()}+gmail@{domain}", raw) == {}
    assert cli.checks("111-2222222-3333333")[0]["listed"]


def test_two_accounts_in_one_transaction(cli, account, listener) -> None:
    """One message to two accounts' addresses: one report each."""
    second = json.loads(cli("accounts", "add", "beta", "--json").stdout)
    until(lambda: _routes(listener.port, second["address"]), what="the listener to route the new account")
    buyer = "q7w2e9r4t1y6u3i@marketplace.amazon.com"
    _send(listener.port, [account["address"], second["address"]], mail.as_bytes(mail.notice(buyer=buyer)))
    by_order, by_buyer = cli.checks("112-4455667-7788990", buyer)
    assert by_order["reports"] == 2 and by_order["accounts"] == ["acme", "beta"]
    assert by_buyer["reports"] == 2 and by_buyer["accounts"] == ["acme", "beta"]


@pytest.mark.listener(max_message_size=50_000, max_recipients=2, max_line_length=2000)
def test_size_recipient_and_line_limits(cli, account, listener) -> None:
    """552 over the size limit, 452 past the recipient limit, 500 for an over-long line."""
    big = mail.as_bytes(mail.notice()) + b"x" * 60_000 + b"\r\n"
    with pytest.raises(smtplib.SMTPSenderRefused) as too_big:  # smtplib reports DATA 552 this way
        _send(listener.port, account["address"], big)
    assert too_big.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", listener.port) as client:
        client.ehlo()
        client.mail("a@example.com")
        assert client.rcpt(account["address"])[0] == 250
        assert client.rcpt(account["address"])[0] == 250
        assert client.rcpt(account["address"])[0] == 452
        client.rset()
    long_line = mail.as_bytes(mail.notice()).replace(b"Dear Seller,", b"Dear " + b"x" * 3000)
    with pytest.raises(smtplib.SMTPDataError) as too_long:
        _send(listener.port, account["address"], long_line)
    assert too_long.value.smtp_code == 500
    assert json.loads(cli("stats", "--json").stdout)["messages"] == {}  # nothing stored


@pytest.mark.listener(idle_timeout=1.0)
def test_client_stalling_mid_data_is_dropped_and_others_go_on(cli, account, listener) -> None:
    """A client that stops mid-DATA is cut off at the idle timeout; nothing half is stored."""
    # both closed on the way out: the file object holds the socket open after the socket's close()
    with socket.create_connection(("127.0.0.1", listener.port)) as stalled, stalled.makefile("rb") as replies:
        replies.readline()
        for line in (b"EHLO x\r\n", b"MAIL FROM:<a@example.com>\r\n", f"RCPT TO:<{account['address']}>\r\n".encode(),
                     b"DATA\r\n"):
            stalled.sendall(line)
            while (reply := replies.readline())[3:4] == b"-":  # each whole reply before the next command
                pass
            assert reply[:1] in (b"2", b"3"), reply
        stalled.sendall(b"From: seller-notification@amazon.com\r\nSubject: half\r\n\r\nWe were unable")
        assert _send(listener.port, account["address"], mail.as_bytes(mail.notice())) == {}
        stalled.settimeout(5)
        # the server closed the connection (end-of-file before our 5 s timeout) and never accepted
        assert reply.startswith(b"354") and replies.read() == b""
    assert json.loads(cli("stats", "--json").stdout)["messages"] == {"listed": 1}


@pytest.mark.listener(max_connections_per_client=3, max_commands=5)
def test_connection_and_command_limits(account, listener) -> None:
    """The fourth connection from one address gets 421; so does a chatty session."""
    open_ones = [smtplib.SMTP("127.0.0.1", listener.port) for _ in range(3)]
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP("127.0.0.1", listener.port)
    assert refused.value.smtp_code == 421
    for client in open_ones:
        client.close()
    until(lambda: greeting(listener.port) == 220, what="the closed connections to be counted off")
    chatty = smtplib.SMTP("127.0.0.1", listener.port)
    codes = []
    try:
        for _ in range(8):
            codes.append(chatty.noop()[0])
    except smtplib.SMTPServerDisconnected:
        pass  # the server hangs up after its 421
    chatty.close()
    assert codes == [250] * 5 + [421]


def test_malformed_mail_is_kept_and_accepted(cli, account, listener) -> None:
    """Garbage is answered 250 (no bounce loop for auto-forwards) and kept in quarantine."""
    garbage = b"From: <<<\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\xff\xfe\x00junk"
    assert _send(listener.port, account["address"], garbage) == {}
    rows = [json.loads(x) for x in cli("quarantine", "list", "--json").stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["outcome"] == "quarantined"


def test_bounces_are_quarantined_not_listed(cli, account, listener) -> None:
    """A sample of real bounces over SMTP: all accepted, none listed."""
    for path in bounce_files()[:25]:
        assert _send(listener.port, account["address"], path.read_bytes()) == {}
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["entries_listed"] == 0 and sum(stats["messages"].values()) == 25


@pytest.mark.slow
@pytest.mark.listener(max_connections_per_client=300)  # the burst all comes from 127.0.0.1
def test_burst_of_200_concurrent_connections(cli, account, listener, engine) -> None:
    """200 clients at once, each with its own notice: every one gets 250 and is listed, and
    messages that arrived together were committed together (a group shares its timestamp)."""
    orders = [f"200-0000000-{i:07d}" for i in range(200)]
    barrier = threading.Barrier(200)

    def one(order: str) -> dict:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=60) as client:
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass
            return client.sendmail("a@amazon.com", account["address"], mail.as_bytes(mail.notice("en", order)))

    with ThreadPoolExecutor(max_workers=200) as pool:
        assert list(pool.map(one, orders)) == [{}] * 200
    rows = cli.checks("-", input="\n".join(orders))
    assert sum(r["listed"] for r in rows) == 200
    with engine.connect() as conn:
        groups = conn.execute(text("SELECT COUNT(DISTINCT received_at) FROM message")).scalar()
    assert groups < 100, f"200 messages in {groups} transactions"


PATHS = ["<a@b.com>", " <a@b.com>", "<a@b.com> SIZE=100", "<a@b.com>  BODY=8BITMIME", "<a.b+c@x-y.example>x",
         "<>", "< a@b.com >", '<"q"@b.com>', '<"a b"@c.d>', "<a@[1.2.3.4]>", "<a..b@c>", "<.a@b>", "<a.@b>",
         "<a@b.com", "a@b.com SIZE=1", "<@route:a@b.com>", "<a@b.com> (comment) SIZE=1", "<a@b.com>\tX=1",
         "<a(c)@b.com>", "<ü@b.com>", "<a@b-.com>", "<a@b..com>", "<" + "x" * 70 + "@b.com>", "", "<@>", "<a@>"]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.sampled_from(PATHS), st.text(alphabet='<>@. \t"()[]:;,\\ab-+=ü', max_size=24)))
def test_address_parsing_matches_aiosmtpd(arg: str) -> None:
    """The listener's fast MAIL/RCPT address parsing gives exactly aiosmtpd's results."""
    from aiosmtpd.smtp import SMTP

    from optout.listener.smtp import ListenerSession

    def outcome(getaddr, session):  # noqa: ANN001, ANN202 - a result, or the error raised
        try:
            return getaddr(session, arg)
        except Exception as exc:  # upstream raises on some inputs; aiosmtpd answers those 500
            return type(exc)

    for limit in (0, 64):
        session = SimpleNamespace(local_part_limit=limit)
        assert outcome(ListenerSession._getaddr, session) == outcome(SMTP._getaddr, session)
