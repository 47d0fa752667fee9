"""The nightly export through the real CLI: formats, incremental changes, expiry, atomicity."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from waiting import until


def _listed(cli) -> None:  # noqa: ANN001
    for query in ("Buyer.One@marketplace.amazon.de", "112-4455667-7788990", "=cmd@example.com", "gone@example.com"):
        assert cli("add", query, "--reason", "seed").exit_code == 0
    cli("remove", "gone@example.com", "--reason", "reinstated")


def test_csv_has_every_field_and_only_listed_entries(cli, tmp_path: Path) -> None:
    """csv: a header, one row per listed entry, removed ones left out, formulas neutralised."""
    _listed(cli)
    out = tmp_path / "list.csv"
    result = cli("export", "--format", "csv", "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["value"])
    assert [r["value"] for r in rows] == ["'=cmd@example.com", "112-4455667-7788990", "buyer.one@marketplace.amazon.de"]
    assert set(rows[0]) == {"kind", "value", "buyer_email", "order_ids", "marketplace", "status", "first_seen",
                            "last_seen", "reports", "verified", "removed_at", "removed_reason"}
    assert rows[2]["marketplace"] == "amazon.de" and rows[2]["verified"] == "false"
    summary = json.loads(result.stdout)
    assert summary["rows"] == 3 and summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_csv_neutralises_every_formula_start(cli, tmp_path: Path) -> None:
    """Values starting with = + - (and a reason starting with =) are prefixed in csv only."""
    for query in ("+sum@example.com", "-neg@example.com", "=cmd@example.com"):
        assert cli("add", "--reason", "seed", "--", query).exit_code == 0  # -- : not an option
    cli("remove", "=cmd@example.com", "--reason", "=HYPERLINK(\"http://x\")")
    out = cli("export", "--format", "csv", "-o", "-", "--since", "2000-01-01").stdout
    rows = {r["value"]: r for r in csv.DictReader(out.splitlines())}
    assert set(rows) == {"'+sum@example.com", "'-neg@example.com", "'=cmd@example.com"}
    assert rows["'=cmd@example.com"]["removed_reason"] == "'=HYPERLINK(\"http://x\")"
    jsonl = {json.loads(x)["value"] for x in cli("export", "--format", "jsonl", "-o", "-").stdout.splitlines()}
    assert jsonl == {"+sum@example.com", "-neg@example.com"}  # JSON is data, not a spreadsheet


def test_jsonl_txt_and_sha256(cli) -> None:
    """jsonl carries the fields; txt one value a line; sha256 hashes trimmed lowercase addresses."""
    _listed(cli)
    jsonl = [json.loads(x) for x in cli("export", "--format", "jsonl", "-o", "-").stdout.splitlines()]
    assert {r["status"] for r in jsonl} == {"listed"} and len(jsonl) == 3
    txt = cli("export", "--format", "txt", "-o", "-").stdout.splitlines()
    assert sorted(txt) == ["112-4455667-7788990", "=cmd@example.com", "buyer.one@marketplace.amazon.de"]
    hashes = cli("export", "--format", "sha256", "-o", "-").stdout.splitlines()
    assert sorted(hashes) == sorted(hashlib.sha256(a.encode()).hexdigest()
                                    for a in ("=cmd@example.com", "buyer.one@marketplace.amazon.de"))


def test_since_carries_removals(cli, engine) -> None:
    """--since lists what changed, removals included as such; txt --removed is the removal list."""
    _listed(cli)
    with engine.begin() as conn:
        conn.execute(text("UPDATE entry SET updated_at = '2020-01-01 00:00:00' WHERE value = '=cmd@example.com'"))
    changed = [json.loads(x) for x in cli("export", "--format", "jsonl", "-o", "-", "--since", "2025-01-01T00:00:00Z").stdout.splitlines()]
    assert {r["value"]: r["status"] for r in changed} == {
        "112-4455667-7788990": "listed", "buyer.one@marketplace.amazon.de": "listed", "gone@example.com": "removed"}
    removed = cli("export", "--format", "txt", "-o", "-", "--since", "2025-01-01", "--removed").stdout
    assert removed == "gone@example.com\n"
    assert cli("export", "-o", "-", "--since", "last tuesday").exit_code == 2


def test_expiry_is_honoured_by_export_and_check(cli, engine, monkeypatch) -> None:
    """With expire_days set, entries not seen for that long drop out, and --since says expired."""
    _listed(cli)
    with engine.begin() as conn:
        conn.execute(text("UPDATE entry SET last_seen = '2020-01-01 00:00:00', updated_at = '2020-01-01 00:00:00' "
                          "WHERE value = '112-4455667-7788990'"))
    monkeypatch.setenv("OPTOUT_EXPIRE_DAYS", "365")
    assert "112-4455667-7788990" not in cli("export", "--format", "txt", "-o", "-").stdout
    check = cli.checks("112-4455667-7788990")[0]
    assert (check["listed"], check["status"]) == (False, "expired")
    since = [json.loads(x) for x in cli("export", "--format", "jsonl", "-o", "-", "--since", "2020-06-01").stdout.splitlines()]
    assert {r["value"]: r["status"] for r in since}["112-4455667-7788990"] == "expired"


def test_output_dir_dated_checksummed_linked_and_pruned(cli, tmp_path: Path, monkeypatch) -> None:
    """--output-dir: dated files, a sha256sum-checkable .sha256 beside each, a latest link, keep N."""
    _listed(cli)
    monkeypatch.setenv("OPTOUT_EXPORT_KEEP", "2")
    folder = tmp_path / "exports"
    folder.mkdir()
    paths = [folder / "optout-20200101-023000.csv", folder / "optout-20200102-023000.csv"]  # two past nights
    for old in paths:
        old.write_text("kind,value\n")
        (folder / (old.name + ".sha256")).write_text(f"0  {old.name}\n")
    result = cli("export", "--format", "csv", "--output-dir", str(folder), "--json")
    assert result.exit_code == 0, result.output
    paths.append(Path(json.loads(result.stdout)["path"]))
    assert not (folder / "optout-20200101-023000.csv.sha256").exists()
    kept = sorted(p.name for p in folder.glob("optout-*.csv"))
    assert kept == sorted(p.name for p in paths[1:])
    assert (folder / "latest.csv").resolve() == paths[-1].resolve()
    check = subprocess.run(["sha256sum", "-c", paths[-1].name + ".sha256"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0 and "OK" in check.stdout
    assert not list(folder.glob(".*tmp"))
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["last_export"]["rows"] == 3 and stats["last_export"]["path"] == str(paths[-1])


def test_failed_export_leaves_the_previous_file(cli, tmp_path: Path, monkeypatch) -> None:
    """A failure mid-stream (fault injected after some rows) exits 2; the old file stays whole."""
    _listed(cli)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "list.csv"
    assert cli("export", "-o", str(out)).exit_code == 0
    before = out.read_bytes()
    from optout.store import export_sql

    real_stream = export_sql.rows

    def failing(*args):  # noqa: ANN002, ANN202
        for index, row in enumerate(real_stream(*args)):
            if index == 2:
                raise OSError(5, "Input/output error")  # as a lost disk or connection would
            yield row

    monkeypatch.setattr(export_sql, "rows", failing)
    result = cli("export", "-o", str(out))
    assert result.exit_code == 2 and result.stderr.startswith("optout: error:")
    assert out.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["list.csv"]  # no temporary file left behind


def test_export_bad_arguments(cli, tmp_path: Path) -> None:
    """Unknown format, no destination, and a destination that is a folder: one line, exit 2."""
    for args in (["--format", "xml", "-o", "-"], [], ["-o", str(tmp_path)]):
        result = cli("export", *args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, args
    assert not list(tmp_path.glob(".*tmp"))


def test_purge_drops_raw_bytes_and_keeps_evidence(cli, account, engine, notices: Path) -> None:
    """purge empties old raw messages; the entry and its report remain."""
    assert cli("ingest", "--account", "acme", str(notices / "en-direct.eml")).exit_code == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE message SET received_at = '2020-01-01 00:00:00'"))
    result = json.loads(cli("purge", "--raw-older-than", "30", "--json").stdout)
    assert result == {"purged": 1, "older_than_days": 30, "sessions_purged": 0}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT raw FROM message")).scalar() is None
    assert cli("check", "112-4455667-7788990").exit_code == 0
    assert json.loads(cli("purge", "--json").stdout)["purged"] == 0


def test_read_only_commands_never_wait_for_the_write_lock(cli, account, database_url, tmp_path: Path, monkeypatch) -> None:
    """With another connection holding SQLite's write lock (as the listener does while it
    commits), export, stats, accounts show and quarantine list all answer at once: they read in
    read-only transactions. (They used to open with BEGIN IMMEDIATE and fail with "locked".)"""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock; PostgreSQL readers never take one")
    import sqlite3

    _listed(cli)
    monkeypatch.setenv("OPTOUT_DB_TIMEOUT", "0.5")
    writer = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    target = tmp_path / "x.csv"
    try:
        for args in (["stats"], ["accounts", "show", "acme"], ["accounts", "list"], ["quarantine", "list"]):
            result = cli(*args)
            assert result.exit_code == 0, (args, result.output)
        # the export writes its file under the lock, then records the run once the lock is free
        export = subprocess.Popen([sys.executable, "-m", "optout", "export", "-o", str(target)],
                                  stderr=subprocess.PIPE, env={**os.environ, "OPTOUT_DB_TIMEOUT": "30"})
        until(target.exists, what="the export's file")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    _, err = export.communicate(timeout=60)
    assert export.returncode == 0, err
    assert target.read_text().count("\n") == 4  # header and three entries


def test_purge_drops_ended_sessions_only(cli, account, engine) -> None:
    """Sessions that expired or were signed out go; a live one stays and still opens the page."""
    from optout.record import signin

    with engine.begin() as conn:
        token, _ = signin.create_link(conn, account_id=1, valid=signin.duration("1d"))
        live, _ = signin.open_with_link(conn, token=token)
        ended, _ = signin.open_with_link(conn, token=token)
        signin.end(conn, token=ended)
        expired, _ = signin.open_with_link(conn, token=token)
        conn.execute(text("UPDATE websession SET expires_at = '2020-01-01 00:00:00' WHERE id = 3"))
    assert json.loads(cli("purge", "--json").stdout)["sessions_purged"] == 2
    with engine.connect() as conn:
        assert signin.session(conn, token=live) is not None
        assert signin.session(conn, token=ended) is None and signin.session(conn, token=expired) is None
        assert conn.execute(text("SELECT count(*) FROM websession")).scalar() == 1
