"""A newcomer's and an operator's first hour with the CLI, as real processes where it matters: a
command that only reads refuses a database that is not there (and makes none); the export's
summary goes where the README says; nothing prints Python's None; a sign-in link says when it
expires and warns when it points at this machine only; keys show their account's slug."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["check", "112-4455667-7788990"], ["filter"], ["stats"],
                                     ["export", "--format", "txt", "-o", "-"], ["accounts", "list"],
                                     ["quarantine", "list"]])
def test_commands_that_only_read_refuse_a_missing_database(tmp_path: Path, command: list[str]) -> None:
    """`cd /tmp && optout check ORDER` with no database there: one line saying where it looked
    and what to do, exit 2, and no empty ./optout-data left behind (a cron job in the wrong
    folder must not answer "not listed" for everyone)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    done = subprocess.run([sys.executable, "-m", "optout", *command], cwd=tmp_path, env=env, input="",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("optout: error: no database at ") and done.stderr.count("\n") == 1
    assert "OPTOUT_DATA_DIR" in done.stderr and "optout db upgrade" in done.stderr
    assert not (tmp_path / "optout-data").exists()


def test_export_summary_goes_to_stdout_unless_stdout_carries_the_export(cli, tmp_path: Path) -> None:
    """To a file, the summary is the command's result (stdout); to stdout, it goes to stderr;
    --removed without --since is an error, not an empty file."""
    assert cli("add", "buyer@example.com", "--reason", "seen").exit_code == 0
    to_file = cli("export", "--format", "txt", "-o", str(tmp_path / "list.txt"))
    assert to_file.exit_code == 0 and "1 rows to" in to_file.stdout and to_file.stderr == ""
    to_stdout = cli("export", "--format", "txt", "-o", "-")
    assert to_stdout.stdout == "buyer@example.com\n" and "1 rows to standard output" in to_stdout.stderr
    removed = cli("export", "--format", "txt", "-o", "-", "--removed")
    assert removed.exit_code == 2 and "--since" in removed.stderr


def test_stats_never_prints_none(cli) -> None:
    """A fresh list's stats: every value in words or numbers."""
    shown = cli("stats")
    assert shown.exit_code == 0 and "None" not in shown.stdout


def test_a_link_says_when_it_expires_and_warns_about_a_loopback_url(cli, account, monkeypatch) -> None:
    """Without public_url the link points at 127.0.0.1, which a seller cannot open: a warning
    says so; the expiry is printed either way; stdout stays the link alone."""
    made = cli("accounts", "link", "acme", "--valid", "2d")
    assert made.exit_code == 0 and made.stdout.strip().startswith("http://127.0.0.1:8025/signin/")
    assert "valid until" in made.stderr and "public_url is not set" in made.stderr
    monkeypatch.setenv("OPTOUT_PUBLIC_URL", "https://optout.example.com")
    public = cli("accounts", "link", "acme")
    assert public.stdout.startswith("https://optout.example.com/signin/") and "public_url" not in public.stderr


def test_keys_list_shows_the_accounts_slug(cli, account) -> None:
    """`keys list` names the account by its slug, as the operator knows it."""
    assert cli("keys", "add", "--scope", "read", "--account", "acme").exit_code == 0
    assert cli("keys", "add", "--scope", "admin").exit_code == 0
    rows = [json.loads(line) for line in cli("keys", "list", "--json").stdout.splitlines()]
    assert [row["account"] for row in rows] == ["acme", None]
