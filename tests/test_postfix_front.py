"""The documented production set-up, for real: a private Postfix instance (Debian's postfix, its
own config directory, spool and loopback port) with deploy/postfix/main.cf and transport, in
front of a real `optout serve` configured as deploy/systemd/optout.env.example says."""

from __future__ import annotations

import os
import re
import smtplib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

import mail
import postfix_front
from conftest import require_tool, unavailable
from postfix_front import Front
from smtp_server import free_port, subprocess_server
from waiting import until

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DOMAIN = "ingest.example.net"


def _documented_env() -> dict[str, str]:
    """The OPTOUT_* limits the example environment file sets for this set-up."""
    wanted = ("OPTOUT_TRUSTED_RELAYS",)
    found = {}
    for line in (DEPLOY / "systemd" / "optout.env.example").read_text().splitlines():
        key, _, value = line.partition("=")
        if key in wanted:
            found[key] = value
    assert set(found) == set(wanted), "optout.env.example must set " + ", ".join(wanted)
    return found


@pytest.fixture
def front() -> Iterator[Front]:
    """Postfix with the project's main.cf and transport, relaying to an optout on a free port."""
    for tool in ("postfix", "postconf", "postmap", "postqueue"):
        require_tool(tool, "postfix")
    if os.geteuid() != 0:
        unavailable("root", "a private Postfix instance starts as root (its master drops privileges)")
    pf = postfix_front.start(DOMAIN, free_port())
    try:
        yield pf
    finally:
        pf.stop()


def _listed(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM entry WHERE status = 'listed'")).scalar()


def _send_many(port: int, rcpt: str, orders: list[str], *, connections: int) -> None:
    """Send notices into Postfix over a few connections, as a busy sender would."""
    shares = [orders[i::connections] for i in range(connections)]

    def lane(share: list[str]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for order in share:
                client.sendmail("seller-notification@amazon.com", rcpt, mail.as_bytes(mail.notice("en", order)))

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(lane, shares))


@pytest.mark.slow
def test_burst_through_postfix_unknown_address_and_outage(cli, account, engine, front: Front, tmp_path: Path) -> None:
    """1,000 notices into Postfix reach the list with no deferral; an unknown ingest address is
    refused at RCPT by asking optout; notices queued while optout is stopped are all listed once
    it is back and the queue is flushed."""
    # the per-account volume guard (500 new entries a day) would hold half the burst: not the point here
    env = {**os.environ, **_documented_env(), "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "100000"}
    listener = subprocess_server(front.hop, env=env, log=tmp_path / "optout.log")
    try:
        orders = [f"410-0000000-{i:07d}" for i in range(1000)]
        _send_many(front.port, account["address"], orders, connections=10)
        until(lambda: _listed(engine) == 1000 or front.lines(r"status=deferred"), what="1,000 notices on the list",
              timeout=300)
        assert front.lines(r"status=deferred") == [], front.lines(r"status=deferred")[:3]
        assert len(front.lines(rf"to=<{re.escape(account['address'])}>.*status=sent")) == 1000

        stranger = account["address"].replace("@", "x@")
        def refused() -> int | None:  # Postfix answers 450 while its probe of optout is under way
            with smtplib.SMTP("127.0.0.1", front.port, timeout=60) as client:
                client.ehlo()
                client.mail("seller-notification@amazon.com")
                code = client.rcpt(stranger)[0]
            return code if code != 450 else None
        assert until(refused, what="Postfix's answer for an unknown ingest address", timeout=60) == 550
    finally:
        listener.terminate()
        assert listener.wait(timeout=60) == 0

    queued = [f"411-0000000-{i:07d}" for i in range(20)]
    _send_many(front.port, account["address"], queued, connections=2)  # accepted: the address was verified
    until(lambda: len(front.lines(r"status=deferred")) >= 20, what="the notices to wait in Postfix's queue")
    listener = subprocess_server(front.hop, env=env, log=tmp_path / "optout.log")
    try:
        front.flush()
        until(lambda: _listed(engine) == 1020, what="the queued notices on the list", timeout=120)
    finally:
        listener.terminate()
        listener.wait(timeout=60)
    assert all(row["listed"] for row in cli.checks(*queued))
