"""The benchmark scripts still run, at a tiny size (figures are not judged here: timed tests
flake on a shared machine). `bench_export.py` had broken unnoticed when the store's reader
changed shape; this keeps the README's commands working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> list[dict]:
    """The script's JSON lines."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), str(ROOT / "tests")])}
    env.pop("OPTOUT_DATABASE_URL", None)  # each script makes its own scratch database
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.strip().splitlines()]


def test_bench_export_runs() -> None:
    found = _run("bench_export.py", "--entries", "2000")[-1]
    assert found["rows"] == 2000 and found["export_rows_per_s"] > 0 and found["floor_cursor_to_csv_rows_per_s"] > 0


def test_bench_groups_runs() -> None:
    measured, machine = _run("bench_groups.py", "--sizes", "100", "--groups", "5")
    assert measured["waiting"] == 100 and measured["groups_s"] > 0 and machine["database"] == "sqlite"


def test_bench_smtp_runs() -> None:
    found = _run("bench_smtp.py", "--messages", "200", "--rounds", "1", "--sessions", "4")[-1]
    assert found["listener_msgs_per_s"] > 0 and found["bare_msgs_per_s"] > 0


def test_bench_backup_runs() -> None:
    found = _run("bench_backup.py", "--entries", "2000")[-1]
    assert found["rows"] >= 2000 and found["backup_sqlite_rows_per_s"] > 0 and found["restore_sqlite_rows_per_s"] > 0
