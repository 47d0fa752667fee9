"""Hostile or unlucky input against a real listener: no stall, no 451 for what a retry cannot fix,
timeouts that mean what they say, guessed addresses refused and counted."""

from __future__ import annotations

import json
import os
import select
import signal
import smtplib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest

import mail
from waiting import until


def _dialogue(port: int, commands: list[bytes]) -> list[bytes]:
    """Send raw SMTP commands one at a time; the last line of each reply (greeting first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        replies = sock.makefile("rb")
        got = [replies.readline()]
        for command in commands:
            sock.sendall(command)
            while (line := replies.readline())[3:4] == b"-":
                pass
            got.append(line)
        return got


def _envelope(port: int, mail_from: bytes, rcpt: bytes, raw: bytes) -> list[bytes]:
    data = raw.replace(b"\r\n.", b"\r\n..") + b"\r\n.\r\n"
    return _dialogue(port, [b"EHLO x\r\n", b"MAIL FROM:<" + mail_from + b">\r\n", b"RCPT TO:<" + rcpt + b">\r\n",
                            b"DATA\r\n", data, b"QUIT\r\n"])


def _stored(cli) -> dict[str, int]:
    return json.loads(cli("stats", "--json").stdout)["messages"]


def test_non_utf8_and_nul_envelope_values_are_kept_not_deferred(cli, account, listener) -> None:
    """A Latin-1 byte in MAIL FROM or in a +tag, and a NUL in MAIL FROM: 250 and stored (they used
    to get 451 for ever: SQLite refused the surrogates, PostgreSQL the NUL)."""
    local, domain = account["address"].split("@")
    cases = [(b"vend\xe9ur@example.com", account["address"].encode(), "301-0000000-0000001"),
             (b"a@example.com", f"{local}+caf\xe9@{domain}".encode("latin-1"), "301-0000000-0000002"),
             (b"nul\x00l@example.com", account["address"].encode(), "301-0000000-0000003")]
    for mail_from, rcpt, order in cases:
        replies = _envelope(listener.port, mail_from, rcpt, mail.as_bytes(mail.notice("en", order)))
        assert replies[5].startswith(b"250 2.0.0"), replies
    assert all(row["listed"] for row in cli.checks(*(order for _, _, order in cases)))
    shown = [json.loads(x) for x in cli("quarantine", "list", "--json").stdout.splitlines()]
    assert shown == []  # all three were notices


@pytest.mark.listener(recognition_timeout=0.05)
def test_a_message_past_the_recognition_deadline_is_kept_and_costs_no_one_else(cli, account, listener) -> None:
    """A message that takes longer than recognition_timeout is quarantined with that reason and
    answered 250; a notice sent at the same time is listed."""
    heavy = EmailMessage()
    heavy["From"] = "someone@example.org"
    heavy["Subject"] = "many parts"
    heavy.set_content("start")
    for index in range(3000):  # thousands of MIME parts: slow to take apart, whatever the parser
        heavy.add_attachment(f"part {index} 555-0000000-{index:07d}\n" * 20, subtype="html")
    raw = mail.as_bytes(heavy)
    with ThreadPoolExecutor(max_workers=2) as pool:
        poison = pool.submit(_send, listener.port, account["address"], raw)
        innocent = pool.submit(_send, listener.port, account["address"], mail.as_bytes(mail.notice("en", "302-0000000-0000001")))
        assert poison.result(timeout=60) == {} and innocent.result(timeout=60) == {}
    assert cli.checks("302-0000000-0000001")[0]["listed"]
    kept = [json.loads(x) for x in cli("quarantine", "list", "--json").stdout.splitlines()]
    assert [row["reason"] for row in kept] == ["recognition took too long (over 0.05 s)"]


def _send(port: int, rcpt: str, raw: bytes) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        return client.sendmail("a@example.com", rcpt, raw)


@contextmanager
def _in_data(port: int, rcpt: str) -> Iterator[tuple[socket.socket, Any]]:
    """A session past DATA's 354, one reply read per command: the socket and its reply reader."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        replies = sock.makefile("rb")
        replies.readline()
        for command in (b"HELO x\r\n", b"MAIL FROM:<a@example.com>\r\n", f"RCPT TO:<{rcpt}>\r\n".encode(), b"DATA\r\n"):
            sock.sendall(command)
            replies.readline()
        yield sock, replies


@pytest.mark.listener(idle_timeout=1.0)
def test_idle_means_silence_a_slow_data_phase_is_not_cut_off(cli, account, listener) -> None:
    """A sender that trickles its DATA one line every 0.3 s for three times idle_timeout is
    accepted (the timer used to restart per command only, and cut it off after 1 s)."""
    lines = mail.as_bytes(mail.notice("en", "303-0000000-0000001")).split(b"\r\n")
    with _in_data(listener.port, account["address"]) as (sock, replies):
        started = time.monotonic()
        for line in lines:
            sock.sendall(line + b"\r\n")
            # the slow sender's pause, during which the server must say nothing (no 421, no close)
            assert not select.select([sock], [], [], 0.3)[0]
        assert time.monotonic() - started > 3.0
        sock.sendall(b".\r\n")
        assert replies.readline().startswith(b"250 2.0.0")
    assert cli.checks("303-0000000-0000001")[0]["listed"]


@pytest.mark.listener(idle_timeout=5.0, max_transaction_time=1.0)
def test_a_transaction_past_its_bound_is_closed_with_421(account, listener) -> None:
    """A sender that keeps trickling past max_transaction_time gets 421 4.4.2 and the close."""
    with _in_data(listener.port, account["address"]) as (sock, replies):
        last = b""
        for _ in range(40):  # up to 8 s of trickling; the bound is 1 s
            if select.select([sock], [], [], 0.2)[0]:  # the pause of the slow sender under test
                last = replies.readline()
                break
            sock.sendall(b"X-Slow: yes\r\n")
        assert last.startswith(b"421 4.4.2"), last


@pytest.mark.postgres
def test_a_frozen_database_gets_451_at_rcpt_within_db_timeout(cli, account, database_url) -> None:
    """PostgreSQL backends stopped with SIGSTOP: an RCPT that needs the account table gets 451
    within about db_timeout (it used to hang for as long as the freeze)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    import psycopg

    from smtp_server import InProcess

    server = InProcess.start(db_timeout=1.0)
    stranger = account["address"].replace("@", "x@")  # a miss makes the cache reload from the database

    def rcpt(address: str) -> tuple[int, float]:
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            client.mail("a@example.com")
            return client.rcpt(address)[0], time.monotonic() - started

    assert rcpt(account["address"])[0] == 250  # the listener now holds its connections
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        backends = [pid for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
    assert backends
    try:
        for pid in backends:
            os.kill(pid, signal.SIGSTOP)
        # a miss reloads at most five times a second: ask until one does
        code, took = until(lambda: (found := rcpt(stranger))[0] != 550 and found, what="a reload", timeout=10)
    finally:
        for pid in backends:
            os.kill(pid, signal.SIGCONT)
        server.stop()
    assert code == 451 and took < 5, (code, took)


@pytest.mark.listener(max_unknown_recipients=5, guess_block=600)
def test_guessing_ingest_addresses_is_refused_logged_and_counted(cli, account, listener, caplog) -> None:
    """Past 5 refused recipients a client gets 421 and is shut out (at RCPT and at connect);
    each refusal is logged with the client and the slug, never the token tried; optout stats
    counts them once the listener has written its counts."""
    caplog.set_level("WARNING", logger="optout.listener.smtp")
    domain = account["address"].split("@")[1]
    guesses = [f"acme-{'a' * 15}{i}@{domain}" for i in range(8)]
    codes = []
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
        client.ehlo()
        client.mail("a@example.com")
        for address in guesses:
            try:
                codes.append(client.rcpt(address)[0])
            except smtplib.SMTPServerDisconnected:
                break
    assert codes == [550] * 5 + [421]
    with pytest.raises((smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected)):
        smtplib.SMTP("127.0.0.1", listener.port, timeout=30).ehlo()
    refusals = [r for r in caplog.records if r.getMessage() == "unknown recipient"]
    assert len(refusals) == 6 and all(r.fields == {"client": "127.0.0.1", "slug": "acme"} for r in refusals)
    assert not any("a" * 15 in str(getattr(r, "fields", "")) for r in caplog.records)
    listener.stop()  # writes the counts it holds
    counted = json.loads(cli("stats", "--json").stdout)["unknown_recipients_today"]
    assert counted == {"refused": 6, "clients": 1, "clients_shut_out": 1}
