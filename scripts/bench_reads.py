#!/usr/bin/env python3
"""Reads must not block the listener: its rate while exports and lookups run, against its rate
without them, in the same run.

    python scripts/bench_reads.py [--entries 1000000] [--messages 3000] [--rounds 2] [--nice 19]

On a list of --entries entries (SQLite in a temporary folder, or --database-url), starts
`optout serve` and drives it from 4 SMTP sessions. Each round sends --messages notices twice:
once alone, once while two `optout export`, one `optout stats`, one `optout check -` of 200,000
queries and one `optout filter` of 200,000 lines run in a loop beside it (under `nice --nice`,
as the shipped systemd export unit runs them; 0 for none). Prints both rates, their ratio, and
how many replies were not 250 (the goal: none).
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
import threading
import time
from pathlib import Path

from bench_export import fill
from bench_smtp import drive, wait_port
from loadgen import free_port


def _readers(env: dict[str, str], folder: Path, nice: int, stop: threading.Event) -> list[int]:
    """Run the read commands side by side, again and again until ``stop``; their exit codes."""
    queries = folder / "queries.txt"
    queries.write_text("".join(f"{i:015x}@marketplace.amazon.de\n" for i in range(1, 400_000, 2)))
    optout = ["nice", "-n", str(nice), sys.executable, "-m", "optout"]
    commands = [[*optout, "export", "--format", "csv", "-o", str(folder / f"export{n}.csv"), "--quiet"] for n in (1, 2)]
    commands += [[*optout, "stats"], [*optout, "check", "-"], [*optout, "filter", "--input", str(queries)]]
    codes: list[int] = []

    def loop(command: list[str]) -> None:
        while not stop.is_set():
            with queries.open("rb") as stdin:
                done = subprocess.run(command, env=env, stdin=stdin, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
            failed = done.returncode not in (0, 1) or (done.returncode == 1 and command[-1] != "-")  # check: 1 = none listed
            codes.append(int(failed))
            if failed:
                print(f"{command[4:6]}: {done.stderr.decode()[-300:]}", file=sys.stderr)
    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in commands]
    for thread in threads:
        thread.start()
    stop.wait()
    for thread in threads:
        thread.join()
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--nice", type=int, default=19)  # as deploy/systemd/optout-export.service runs them
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="optout-bench-reads-"))
    env = {"OPTOUT_DATA_DIR": str(folder / "data"), "OPTOUT_INGEST_DOMAIN": "ingest.localhost",
           "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "1000000000"}
    if args.database_url:
        env["OPTOUT_DATABASE_URL"] = args.database_url
    full_env = {**os.environ, **env}
    optout = [sys.executable, "-m", "optout"]
    subprocess.run([*optout, "db", "upgrade"], env=full_env, check=True, capture_output=True)
    fill(env, args.entries)
    made = subprocess.run([*optout, "accounts", "add", f"reads{int(time.time())}", "--json"], env=full_env,
                          check=True, capture_output=True, text=True)
    rcpt = json.loads(made.stdout)["address"]
    port = free_port()
    listener = subprocess.Popen([*optout, "serve", "--no-http", "--port", str(port)], env=full_env, stderr=subprocess.DEVNULL)
    rates: dict[str, list[float]] = {"alone": [], "with_reads": []}
    not_250, reader_codes = 0, []
    try:
        wait_port(port)
        for round_ in range(args.rounds):
            for name in ("alone", "with_reads"):
                stop = threading.Event()
                readers = None
                if name == "with_reads":
                    readers = threading.Thread(target=lambda done=stop: reader_codes.extend(
                        _readers(full_env, folder, args.nice, done)))
                    readers.start()
                    time.sleep(2)  # let the readers get going: the point is to measure under them
                seconds, replies = asyncio.run(drive(port, rcpt, sessions=4, count=args.messages,
                                                     prefix=200 + round_ * 2 + (name == "with_reads")))
                stop.set()
                if readers:
                    readers.join()
                not_250 += sum(1 for code in replies if code != 250)
                rates[name].append(args.messages / seconds)
    finally:
        listener.terminate()
        listener.wait(30)
    paired = [b / a for a, b in zip(rates["alone"], rates["with_reads"])]
    print(json.dumps({
        "database": "postgresql" if args.database_url else "sqlite", "entries": args.entries,
        "messages_per_round": args.messages, "rounds": args.rounds, "readers_nice": args.nice,
        "alone_msgs_per_s": [round(r) for r in rates["alone"]],
        "with_reads_msgs_per_s": [round(r) for r in rates["with_reads"]],
        "median_ratio": round(statistics.median(paired), 2), "replies_not_250": not_250,
        "reader_runs": len(reader_codes), "reader_failures": sum(1 for c in reader_codes if c),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
