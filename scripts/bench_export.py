#!/usr/bin/env python3
"""Export speed and memory on a 1,000,000-entry list, SQLite and (with a URL) PostgreSQL.

    python scripts/bench_export.py [--entries 1000000] [--database-url URL]

Fills a fresh database with N listed entries (half addresses, half order IDs), then runs
`optout export --format csv` as a whole process under GNU time (rows/s, peak RSS; and rows/s
after interpreter start-up, from the command's own timing), and, in the same run, the floor: a
bare DB-API cursor streamed straight into csv.writer with no shaping.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def fill(env: dict[str, str], entries: int) -> None:
    os.environ.update(env)
    from optout.config import load_settings
    from optout.record.entries import ENTRY_COLUMNS
    from optout.store import bulk, db

    eng = db.bulk_writer(load_settings())
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with eng.begin() as conn:
        for start in range(0, entries, 50_000):
            rows = []
            for i in range(start, min(entries, start + 50_000)):
                value = f"{i:015x}@marketplace.amazon.de" if i % 2 else f"{100 + i % 900:03d}-{i:07d}-{i:07d}"[:19]
                rows.append(("email" if i % 2 else "order", value, value if i % 2 else None,
                             None if i % 2 else None, "amazon.de", "listed", now, now, 1, False, now))
            bulk.insert(conn, table="entry", columns=ENTRY_COLUMNS, rows=rows, tail="ON CONFLICT (value) DO NOTHING")
    eng.dispose()


def floor(env: dict[str, str], out: Path) -> float:
    """A bare cursor into csv.writer: the least any exporter in Python can cost."""
    from optout.config import load_settings
    from optout.store import db

    conn = db.reader(load_settings()).conn
    started = time.perf_counter()
    cursor = conn.cursor()
    cursor.execute("SELECT kind, value, buyer_email, order_ids, marketplace, status, first_seen, last_seen, "
                   "report_count, verified, removed_at, removed_reason FROM entry WHERE status = 'listed'")
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        while rows := cursor.fetchmany(10_000):
            writer.writerows(rows)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="optout-bench-export-"))
    env = {"OPTOUT_DATA_DIR": str(folder / "data")}
    if args.database_url:
        env["OPTOUT_DATABASE_URL"] = args.database_url
    full_env = {**os.environ, **env}
    subprocess.run([sys.executable, "-m", "optout", "db", "upgrade"], env=full_env, check=True, capture_output=True)
    if args.database_url:  # a shared server: start from an empty list
        import psycopg

        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE entry CASCADE")
    fill(env, args.entries)
    out = folder / "list.csv"
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "optout", "export", "--format", "csv",
                           "--output", str(out), "--quiet", "--json"], env=full_env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr[-1000:])
    summary = json.loads(done.stdout)
    rows = summary["rows"]
    floor_seconds = floor(env, folder / "floor.csv")
    print(json.dumps({
        "database": "postgresql" if args.database_url else "sqlite", "entries": args.entries, "rows": rows,
        "export_rows_per_s": round(rows / seconds), "export_seconds": round(seconds, 2),
        "export_rows_per_s_after_start_up": round(rows / summary["seconds"]),
        "export_peak_mb": round(int(done.stderr.strip().splitlines()[-1]) / 1024),
        "floor_cursor_to_csv_rows_per_s": round(rows / floor_seconds),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
