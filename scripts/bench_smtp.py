#!/usr/bin/env python3
"""Listener throughput against a bare aiosmtpd server, in the same run.

    python scripts/bench_smtp.py                      # SQLite in a temporary folder
    python scripts/bench_smtp.py --database-url postgresql://postgres@127.0.0.1:5432/test

Starts (1) a bare aiosmtpd server whose handler only answers 250 and (2) `optout serve` with
everything on (recognition, DKIM check, durable group commit), each in its own process, then
drives each with the same load: --sessions concurrent SMTP sessions sending 4 KB notices with
distinct order IDs from one asyncio client process, up to 100 messages per connection. Prints messages/s for both and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import loadgen
from loadgen import free_port


def notice(order: str) -> bytes:
    return loadgen.notice(order, filler_lines=36)  # about 4 KB in all


def wait_port(port: int) -> None:
    if not loadgen.wait_port(port):
        raise SystemExit(f"nothing listening on {port}")


def bare_server(port: int) -> None:
    """The floor: aiosmtpd with a handler that accepts everything and does nothing."""
    from aiosmtpd.smtp import SMTP

    class Accept:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
            return "250 OK"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Accept(), enable_SMTPUTF8=True), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class _Client(asyncio.Protocol):
    """One SMTP session as a small state machine on asyncio's protocol callbacks: far cheaper
    than streams, so the load generator takes little of the CPU the servers need. The
    envelope commands are pipelined (MAIL, RCPT, DATA written together, their three replies
    read), as RFC 2920 allows."""

    def __init__(self, rcpt: str, messages: list[bytes], replies: list[int], done: asyncio.Future) -> None:
        self.envelope = f"MAIL FROM:<seller-notification@amazon.com>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()
        self.messages, self.replies, self.done = iter(messages), replies, done
        self.buffer = b""
        self.waiting = 1  # the greeting
        self.step = "greeting"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if line[3:4] == b"-":
                continue  # a continuation line of a multi-line reply
            self.waiting -= 1
            if self.waiting == 0:
                self._next(line)

    def _next(self, line: bytes) -> None:
        if self.step in ("greeting", "ehlo"):
            if self.step == "greeting":
                self.step, self.waiting = "ehlo", 1
                self.transport.write(b"EHLO bench\r\n")
                return
            self._envelope()
        elif self.step == "envelope":
            self.step, self.waiting = "data", 1
            self.transport.write(self.current + b"\r\n.\r\n")
        elif self.step == "data":
            self.replies.append(int(line[:3]))
            self._envelope()
        elif self.step == "quit":
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)

    def _envelope(self) -> None:
        self.current = next(self.messages, None)
        if self.current is None:
            self.step, self.waiting = "quit", 1
            self.transport.write(b"QUIT\r\n")
            return
        self.step, self.waiting = "envelope", 3
        self.transport.write(self.envelope)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _lane(port: int, rcpt: str, messages: list[bytes], replies: list[int], per_connection: int) -> None:
    """One of the concurrent senders: its messages over successive connections, as an MTA
    reuses a connection for a while and then opens another (and as --max-commands allows)."""
    loop = asyncio.get_running_loop()
    for start in range(0, len(messages), per_connection):
        done = loop.create_future()
        batch = messages[start : start + per_connection]
        await loop.create_connection(lambda: _Client(rcpt, batch, replies, done), "127.0.0.1", port)  # noqa: B023
        await done


async def drive(port: int, rcpt: str, *, sessions: int, count: int, prefix: int,
                per_connection: int = 100) -> tuple[float, list[int]]:
    load = [notice(f"{prefix:03d}-{i // 10_000_000:07d}-{i % 10_000_000:07d}") for i in range(count)]
    shares = [load[i::sessions] for i in range(sessions)]
    replies: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(_lane(port, rcpt, share, replies, per_connection) for share in shares))
    return time.perf_counter() - started, replies


def listed(optout: list[str], env: dict[str, str]) -> int:
    """Messages recorded as notices that list a buyer (new to the list, or listed already)."""
    stats = json.loads(subprocess.run([*optout, "stats", "--json"], env=env, check=True, capture_output=True,
                                      text=True).stdout)
    return stats["messages"].get("listed", 0) + stats["messages"].get("known", 0)


def run(args: argparse.Namespace) -> dict:
    folder = tempfile.mkdtemp(prefix="optout-bench-")
    env = {**os.environ, "OPTOUT_DATA_DIR": folder, "OPTOUT_INGEST_DOMAIN": "ingest.localhost",
           "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "1000000000",  # every notice must really list
           "OPTOUT_GROUP_COMMIT_SIZE": str(args.group)}
    if args.database_url:
        env["OPTOUT_DATABASE_URL"] = args.database_url
    optout = [sys.executable, "-m", "optout"]
    subprocess.run([*optout, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run([*optout, "accounts", "add", f"bench{int(time.time())}", "--json"], env=env,
                          check=True, capture_output=True, text=True)
    rcpt = json.loads(made.stdout)["address"]
    before = listed(optout, env)
    bare_port, listener_port = free_port(), free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)])
    listener = subprocess.Popen([*optout, "serve", "--no-http", "--port", str(listener_port)], env=env,
                                stderr=subprocess.DEVNULL)
    try:
        wait_port(bare_port)
        wait_port(listener_port)
        results = {"bare": [], "listener": []}
        for round_ in range(args.rounds):  # alternate, so drift on a shared machine hits both
            for name, port in (("bare", bare_port), ("listener", listener_port)):
                seconds, replies = asyncio.run(drive(port, rcpt, sessions=args.sessions, count=args.messages,
                                                     prefix=100 + round_ * 2 + (name == "listener")))
                assert replies.count(250) == args.messages, f"{name}: {replies.count(250)} of {len(replies)} replies were 250"
                results[name].append(args.messages / seconds)
    finally:
        for proc in (bare, listener):
            proc.terminate()
            proc.wait(30)
    # a 250 is not enough: every notice must have been recognised and put on the list
    assert listed(optout, env) - before == args.rounds * args.messages, "not every notice was listed"
    best = {name: max(rates) for name, rates in results.items()}
    paired = [listener / bare for bare, listener in zip(results["bare"], results["listener"])]
    return {"database": "postgresql" if args.database_url else "sqlite", "sessions": args.sessions,
            "messages_per_round": args.messages, "rounds": args.rounds,
            "bare_msgs_per_s": round(best["bare"]), "listener_msgs_per_s": round(best["listener"]),
            "ratio": round(best["listener"] / best["bare"], 2),  # best round of each
            "median_round_ratio": round(statistics.median(paired), 2),  # each round against the bare one before it
            "rounds_msgs_per_s": {name: [round(r) for r in rates] for name, rates in results.items()},
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--group", type=int, default=64, help="group commit size")
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
