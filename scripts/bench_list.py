#!/usr/bin/env python3
"""The list's speed targets on a 1,000,000-entry SQLite list, each run as a whole process.

    python scripts/bench_list.py [--entries 1000000] [--database-url URL]

Measures, in one run, on a fresh database in a temporary folder:
- `optout import` of N identifiers (half buyer aliases, half order IDs): rows/s (target 50,000)
- `optout check ONE-BUYER` as a whole process, median of 15 runs (target 0.35 s), beside the
  floor the issue names: a bare `python -c "import sqlmodel"` on the same machine
- `optout check -` with 500,000 queries, half of them listed: queries/s (target 100,000)
- `optout filter` of a 500,000-line send list: lines/s
- the peak resident memory of each (target: under 200 MB)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = 500_000


def alias(i: int) -> str:
    return f"{i:015x}"[-15:].replace("0", "q") + "@marketplace.amazon.com"


def order(i: int) -> str:
    return f"{100 + i % 900:03d}-{i % 10_000_000:07d}-{i // 7 % 10_000_000:07d}"


def timed(args: list[str], env: dict[str, str], stdin: Path | None = None) -> tuple[float, int, str]:
    """Seconds, peak RSS in MB (GNU time's %M), and stdout of one child process."""
    started = time.perf_counter()
    with (stdin.open("rb") if stdin else open(os.devnull, "rb")) as feed:
        done = subprocess.run(["/usr/bin/time", "-f", "%M", *args], env=env, stdin=feed,
                              capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{args} failed: {done.stderr.decode()[-500:]}")
    peak_kb = int(done.stderr.decode().strip().splitlines()[-1])
    return seconds, round(peak_kb / 1024), done.stdout.decode(errors="replace")


def run(entries: int, database_url: str | None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="optout-bench-list-"))
    env = {**os.environ, "OPTOUT_DATA_DIR": str(folder / "data")}
    if database_url:
        env["OPTOUT_DATABASE_URL"] = database_url
    optout = [sys.executable, "-m", "optout"]
    source = folder / "blacklist.txt"
    with source.open("w") as out:
        for i in range(entries):
            out.write((alias(i) if i % 2 else order(i)) + "\n")
    subprocess.run([*optout, "db", "upgrade"], env=env, check=True, capture_output=True)
    seconds, import_mb, _ = timed([*optout, "import", str(source), "--quiet"], env)
    results = {"entries": entries, "import_rows_per_s": round(entries / seconds), "import_peak_mb": import_mb}
    subprocess.run(["sync"], check=False)  # let the import's writes settle before timing reads
    time.sleep(2)
    timed([*optout, "check", alias(1)], env)  # one warm-up run: the first pays for .pyc files

    floor = [timed([sys.executable, "-c", "import sqlmodel"], env)[0] for _ in range(5)]
    checks = [timed([*optout, "check", alias(entries // 2 + 1)], env)[0] for _ in range(15)]
    results["check_one_median_s"] = round(statistics.median(checks), 3)
    results["floor_import_sqlmodel_median_s"] = round(statistics.median(floor), 3)

    rng = random.Random(7)
    queries = folder / "queries.txt"
    with queries.open("w") as out:
        for _ in range(QUERIES):
            i = rng.randrange(entries * 2)  # half of them beyond the list: not listed
            out.write((alias(i) if i % 2 else order(i)) + "\n")
    seconds, check_mb, stdout = timed([*optout, "check", "-"], env, stdin=queries)
    results["check_stdin_queries_per_s"] = round(QUERIES / seconds)
    results["check_stdin_listed"] = stdout.count("\tLISTED\t")
    results["check_stdin_peak_mb"] = check_mb
    seconds, filter_mb, stdout = timed([*optout, "filter"], env, stdin=queries)
    results["filter_lines_per_s"] = round(QUERIES / seconds)
    results["filter_kept"] = stdout.count("\n")
    results["filter_peak_mb"] = filter_mb
    results["database"] = "postgresql" if database_url else "sqlite"
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    print(json.dumps(run(args.entries, args.database_url)))


if __name__ == "__main__":
    main()
