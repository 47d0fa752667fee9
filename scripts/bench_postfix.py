#!/usr/bin/env python3
"""Notices through the documented Postfix front, against the same notices straight to optout.

    sudo python scripts/bench_postfix.py [--messages 5000] [--sessions 10]

Starts `optout serve` (SQLite in a temporary folder, settings as deploy/systemd/optout.env.example
gives them) and a private Postfix instance with deploy/postfix/main.cf and transport in front of
it (see scripts/postfix_front.py; needs root and Debian's postfix). Sends --messages notices into
Postfix from --sessions SMTP sessions and times until all are on the list, counting Postfix's
deferrals (the goal: none); then sends as many again straight to optout, timed the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import postfix_front
from bench_smtp import drive, wait_port
from loadgen import free_port

DOMAIN = "ingest.localhost"


def _env(folder: Path) -> dict[str, str]:
    env = {**os.environ, "OPTOUT_DATA_DIR": str(folder), "OPTOUT_INGEST_DOMAIN": DOMAIN,
           "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "1000000000"}
    for line in (postfix_front.DEPLOY / "systemd" / "optout.env.example").read_text().splitlines():
        if line.startswith("OPTOUT_TRUSTED_RELAYS="):
            env["OPTOUT_TRUSTED_RELAYS"] = line.split("=", 1)[1]
    return env


def _until_listed(db: Path, count: int, started: float, timeout: float = 900) -> float:
    """Seconds from ``started`` until ``count`` entries are listed (polled every 50 ms)."""
    while True:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            if conn.execute("SELECT count(*) FROM entry").fetchone()[0] >= count:
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"not all {count} listed after {timeout} s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="optout-bench-postfix-"))
    env = _env(folder)
    optout = [sys.executable, "-m", "optout"]
    subprocess.run([*optout, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run([*optout, "accounts", "add", "bench", "--json"], env=env, check=True,
                          capture_output=True, text=True)
    rcpt = json.loads(made.stdout)["address"]
    hop = free_port()
    with (folder / "optout.log").open("wb") as log:
        listener = subprocess.Popen([*optout, "serve", "--no-http", "--port", str(hop)], env=env, stderr=log)
    front = None
    try:
        wait_port(hop)
        front = postfix_front.start(DOMAIN, hop)
        started = time.perf_counter()
        asyncio.run(drive(front.port, rcpt, sessions=args.sessions, count=args.messages, prefix=500))
        accepted = time.perf_counter() - started
        through_front = _until_listed(folder / "optout.db", args.messages, started)
        deferred = len(front.lines(r"status=deferred"))
        refused_421 = len(front.lines(r" 421 "))
        started = time.perf_counter()
        _, replies = asyncio.run(drive(hop, rcpt, sessions=args.sessions, count=args.messages, prefix=600))
        direct = _until_listed(folder / "optout.db", 2 * args.messages, started)
    finally:
        if front:
            front.stop()
        listener.terminate()
        listener.wait(30)
    print(json.dumps({
        "messages": args.messages, "sessions": args.sessions,
        "through_postfix_seconds_until_listed": round(through_front, 2),
        "through_postfix_msgs_per_s": round(args.messages / through_front),
        "postfix_accepted_all_after_s": round(accepted, 2),
        "postfix_deferrals": deferred, "postfix_421s": refused_421,
        "direct_seconds_until_listed": round(direct, 2), "direct_msgs_per_s": round(args.messages / direct),
        "direct_replies_not_250": sum(1 for code in replies if code != 250),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
