#!/usr/bin/env python3
"""Fault drill: SIGKILL the listener in the middle of a load; every message that got a 250 must
be on the list after a restart.

    python scripts/kill_drill.py --messages 2000 --kill-after 500

Uses the OPTOUT_* settings of the environment (default: the SQLite file under ./optout-data),
creates an account `drill`, starts `optout serve` on a free port, sends notices with distinct
order IDs from 20 threads, kills the server with SIGKILL once --kill-after replies came back,
and then checks each accepted order ID with `optout check`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from loadgen import free_port, notice, wait_port


def optout(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optout", *args], input=stdin, capture_output=True,
                          text=True, check=False)


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "optout", "serve", "--no-http", "--port", str(port)],
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if wait_port(port):
        return proc
    proc.kill()
    raise SystemExit("the listener did not start")


def run_drill(*, messages: int, kill_after: int, prefix: str = "900") -> dict:
    """Send, kill, check. Returns counts; ``lost`` must be 0."""
    made = optout("accounts", "add", f"drill{prefix}", "--json")
    if made.returncode != 0:
        made = optout("accounts", "show", f"drill{prefix}", "--json")
    address = json.loads(made.stdout)["address"]
    port = free_port()
    server = start_server(port)
    accepted: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def send(i: int) -> None:
        order = f"{prefix}-{i:07d}-{i:07d}"
        if killed.is_set():
            return
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail("seller-notification@amazon.com", address, notice(order))
        except (OSError, smtplib.SMTPException):
            return  # not accepted: the sender would retry
        with lock:
            accepted.append(order)
            if len(accepted) >= kill_after and not killed.is_set():
                killed.set()
                server.send_signal(signal.SIGKILL)

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(send, range(messages)))
    server.wait()
    restarted = start_server(port)  # the listener comes back on the same database
    restarted.send_signal(signal.SIGTERM)
    restarted.wait(30)
    checked = optout("check", "--json", "-", stdin="\n".join(accepted))
    rows = [json.loads(line) for line in checked.stdout.splitlines()]
    lost = [r["query"] for r in rows if not r["listed"]]
    return {"sent": messages, "accepted": len(accepted), "lost": len(lost), "lost_orders": lost[:10],
            "killed": killed.is_set()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--kill-after", type=int, default=500)
    args = parser.parse_args()
    result = run_drill(messages=args.messages, kill_after=args.kill_after)
    print(json.dumps(result))
    sys.exit(1 if result["lost"] else 0)


if __name__ == "__main__":
    os.environ.setdefault("OPTOUT_INGEST_DOMAIN", "ingest.localhost")
    os.environ.setdefault("OPTOUT_DAILY_NEW_ENTRIES_LIMIT", "1000000000")  # the volume guard would hold them
    main()
