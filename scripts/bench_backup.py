#!/usr/bin/env python3
"""Backup and restore speed and memory on a large list, each run as a whole process.

    python scripts/bench_backup.py [--entries 10000000] [--postgres postgresql://…/DB]

Makes a list of N entries with `optout import` on a fresh SQLite file (and, with --postgres, on
that PostgreSQL server, in databases it creates and drops), then measures:
- `optout backup FILE` from each: rows/s and peak resident memory
- `optout restore FILE` of the SQLite backup into a fresh SQLite file and, with --postgres, into
  a fresh PostgreSQL database (COPY): rows/s and peak memory
Targets (issue "Nothing lost when the disk dies"): each at least 100,000 rows/s, under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench_list import alias, order, timed


def _postgres_database(admin: str, create: bool, name: str) -> str:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def run(entries: int, postgres: str | None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="optout-bench-backup-"))
    optout = [sys.executable, "-m", "optout"]
    source = folder / "list.txt"
    with source.open("w") as out:
        for i in range(entries):
            out.write((alias(i) if i % 2 else order(i)) + "\n")
    results: dict = {"entries": entries}
    targets = {"sqlite": {**os.environ, "OPTOUT_DATA_DIR": str(folder / "data")}}
    names = []
    if postgres:
        name = f"optout_bench_{uuid.uuid4().hex[:8]}"
        names.append(name)
        targets["postgresql"] = {**os.environ, "OPTOUT_DATABASE_URL": _postgres_database(postgres, True, name)}
    try:
        for engine, env in targets.items():
            subprocess.run([*optout, "db", "upgrade"], env=env, check=True, capture_output=True)
            subprocess.run([*optout, "import", str(source), "--quiet"], env=env, check=True, capture_output=True)
            backup = folder / f"{engine}.backup"
            seconds, peak, out = timed([*optout, "backup", str(backup), "--json", "--quiet"], env)
            rows = json.loads(out)["rows"]
            results[f"backup_{engine}_rows_per_s"] = round(rows / seconds)
            results[f"backup_{engine}_peak_mb"] = peak
            results[f"backup_{engine}_file_mb"] = round(backup.stat().st_size / 2**20)
        backup = folder / "sqlite.backup"
        restores = {"sqlite": {**os.environ, "OPTOUT_DATA_DIR": str(folder / "restored")}}
        if postgres:
            name = f"optout_bench_{uuid.uuid4().hex[:8]}"
            names.append(name)
            restores["postgresql"] = {**os.environ, "OPTOUT_DATABASE_URL": _postgres_database(postgres, True, name)}
        for engine, env in restores.items():
            seconds, peak, out = timed([*optout, "restore", str(backup), "--json", "--quiet"], env)
            rows = json.loads(out)["rows"]
            results[f"restore_{engine}_rows_per_s"] = round(rows / seconds)
            results[f"restore_{engine}_peak_mb"] = peak
        results["rows"] = rows
    finally:
        for name in names:
            _postgres_database(postgres or "", False, name)
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server (its databases are made and dropped)")
    args = parser.parse_args()
    print(json.dumps(run(args.entries, args.postgres)))


if __name__ == "__main__":
    main()
