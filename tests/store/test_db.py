"""Schema creation and checks, bad database URLs, and concurrent writers on both databases."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optout.store import db


def test_schema_revision_constant_is_the_newest_migration() -> None:
    """db.SCHEMA_REVISION names the head of the shipped migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == db.SCHEMA_REVISION


def test_migrations_match_the_models(engine) -> None:
    """After `db upgrade`, Alembic finds no difference between the tables and models.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import optout.store.models  # noqa: F401

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_sqlite_database_is_created_on_first_use(cli, tmp_path: Path, monkeypatch) -> None:
    """A command that writes, on a fresh data dir, creates the SQLite file and its schema; one
    that only reads refuses it first (issue 25: it must not answer "not listed" for everyone)."""
    monkeypatch.delenv("OPTOUT_DATABASE_URL")
    monkeypatch.setenv("OPTOUT_DATA_DIR", str(tmp_path / "fresh"))
    assert cli("check", "a@example.com").exit_code == 2
    assert not (tmp_path / "fresh" / "optout.db").exists()
    assert cli("accounts", "add", "first").exit_code == 0
    assert (tmp_path / "fresh" / "optout.db").exists()
    assert cli("check", "a@example.com").exit_code == 1


def test_db_upgrade_reports_the_revision(cli, database_url) -> None:
    """`optout db upgrade` is safe to run again and names the revision."""
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and f"-> {db.SCHEMA_REVISION}" in result.stdout


@pytest.mark.postgres
def test_postgres_behind_schema_asks_for_upgrade(database_url, cli) -> None:
    """On PostgreSQL an old schema is not migrated silently: the command says what to run."""
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL only")
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    for args in (["check", "a@example.com"], ["stats"]):
        result = cli(*args)
        assert result.exit_code == 2 and "run `optout db upgrade`" in result.stderr


@pytest.mark.parametrize("url", [
    "postgresql://nobody@127.0.0.1:1/none",
    "sqlite:////proc/forbidden/optout.db",
    "nonsense://x",
])
def test_unusable_database_url_is_one_line(url: str, monkeypatch, bare_cli) -> None:
    """A database that cannot be reached or created: one line, exit 2, for reads and writes."""
    monkeypatch.setenv("OPTOUT_DATABASE_URL", url)
    for args in (["check", "a@example.com"], ["add", "a@example.com", "--reason", "r"]):
        result = bare_cli(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("optout: error:") and result.stderr.count("\n") == 1


def test_bad_setting_and_missing_config_file_are_one_line(monkeypatch, tmp_path: Path, bare_cli) -> None:
    """A bad OPTOUT_* value or a missing OPTOUT_CONFIG file: one line, exit 2."""
    monkeypatch.setenv("OPTOUT_SMTP_PORT", "not-a-port")
    result = bare_cli("stats")
    assert result.exit_code == 2 and "smtp_port" in result.stderr
    monkeypatch.delenv("OPTOUT_SMTP_PORT")
    monkeypatch.setenv("OPTOUT_CONFIG", str(tmp_path / "missing.toml"))
    assert "config file not found" in bare_cli("stats").stderr


def test_toml_config_file_is_read_and_env_wins(monkeypatch, tmp_path: Path) -> None:
    """Settings come from the TOML file, and OPTOUT_* variables override it."""
    from optout.config import load_settings

    path = tmp_path / "optout.toml"
    path.write_text('max_recipients = 7\nsmtp_port = 2600\n')
    monkeypatch.setenv("OPTOUT_CONFIG", str(path))
    monkeypatch.setenv("OPTOUT_SMTP_PORT", "2700")
    cfg = load_settings()
    assert (cfg.max_recipients, cfg.smtp_port) == (7, 2700)


_WORKER = """
import sys
from optout.config import load_settings
from optout.store.db import engine
from optout.record.entries import NewReport, record
eng = engine(load_settings())
start = int(sys.argv[1])
for i in range(start, start + 60):
    with eng.begin() as conn:
        record(conn, reports=[NewReport(dedup=f"w{start}:{i}", source="manual",
               order_id=f"111-0000000-{i:07d}", buyer_email=f"b{i % 25}@example.com")])
"""


def test_concurrent_writers_make_exact_counts(database_url, cli) -> None:
    """Four processes add overlapping entries at once: no duplicate entries, exact counts."""
    cli("db", "upgrade")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(start)], env=os.environ.copy(),
                              stderr=subprocess.PIPE) for start in (0, 30, 30, 45)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    stats = json.loads(cli("stats", "--json").stdout)
    # two workers share a start, so they write the same reports: those count once
    distinct = {(s, i) for s in (0, 30, 45) for i in range(s, s + 60)}
    assert stats["entries_listed"] == 105 + 25  # order IDs 0..104 and buyers b0..b24
    assert stats["reports"] == len(distinct) == 180
    rows = cli.checks("-", input="111-0000000-0000030\nb5@example.com\n")
    assert rows[0]["reports"] == 2  # order 30: by the workers starting at 0 and at 30
    assert rows[1]["reports"] == sum(1 for _, i in distinct if i % 25 == 5)
