"""The list through the real CLI: add, check, remove, import, filter, stats — on each database."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from optout.consult import lookup


def test_check_exit_codes_follow_the_answer(cli, database_url) -> None:
    """1 when nothing is listed, 0 when something is, 2 on bad input."""
    assert cli("check", "112-4455667-7788990").exit_code == 1
    assert cli("add", "112-4455667-7788990", "--reason", "seen").exit_code == 0
    assert cli("check", "112-4455667-7788990", "nobody@example.com").exit_code == 0
    bad = cli("check", "112-44-77")
    assert bad.exit_code == 2 and bad.stderr.startswith("optout: error:") and bad.stderr.count("\n") == 1


def test_check_json_carries_the_evidence(cli, account) -> None:
    """--json gives listed, times, report count, accounts and order IDs for a known entry."""
    cli("add", "112-4455667-7788990", "--reason", "seen", "--account", "acme")
    code, rows = cli.check_json("[112-4455667-7788990]", "x@example.com")
    assert code == 0
    hit, miss = rows
    assert hit["query"] == "[112-4455667-7788990]" and hit["normalised"] == "112-4455667-7788990"  # as sent; as matched
    assert hit["listed"] is True
    assert hit["reports"] == 1 and hit["accounts"] == ["acme"]
    assert hit["order_ids"] == ["112-4455667-7788990"] and hit["first_seen"].endswith("Z")
    assert miss == {"query": "x@example.com", "normalised": "x@example.com", "kind": "email", "listed": False,
                    "status": None}


def test_addresses_match_case_insensitively(cli, database_url) -> None:
    """An address added in one case is found in another, with white space trimmed."""
    cli("add", "K3V9XQ2MZ7P4W1R@marketplace.amazon.de", "--reason", "r")
    code, rows = cli.check_json(" k3v9xq2mz7p4w1r@MARKETPLACE.amazon.de ")
    assert code == 0 and rows[0]["listed"] and rows[0]["marketplace"] == "amazon.de"


def test_check_reads_stdin_in_order(cli, database_url) -> None:
    """`check -` answers one line per query, in input order; a bad line names its number."""
    cli("add", "222-0000000-0000002", "--reason", "r")
    queries = "111-0000000-0000001\n222-0000000-0000002\n\na@example.com\n"
    code, rows = cli.check_json("-", input=queries)
    assert code == 0
    assert [r["query"] for r in rows] == ["111-0000000-0000001", "222-0000000-0000002", "a@example.com"]
    assert [r["listed"] for r in rows] == [False, True, False]
    bad = cli("check", "-", input="111-0000000-0000001\nnot a query\n")
    assert bad.exit_code == 2 and "stdin line 2" in bad.stderr


def test_remove_keeps_history_and_a_later_report_relists(cli, engine) -> None:
    """Removal hides the entry from check but keeps it; a new report lists it again."""

    cli("add", "a@example.com", "--reason", "complaint")
    assert cli("remove", "a@example.com", "--reason", "buyer asked to be reinstated").exit_code == 0
    code, rows = cli.check_json("a@example.com")
    assert code == 1 and rows[0]["status"] == "removed"
    assert rows[0]["removed_reason"] == "buyer asked to be reinstated" and rows[0]["removed_at"]
    assert cli("remove", "a@example.com", "--reason", "again").exit_code == 2
    cli("add", "a@example.com", "--reason", "new notice")
    assert cli.check_json("a@example.com")[0] == 0
    with engine.connect() as conn:
        actions = list(conn.execute(text(
            "SELECT action FROM event JOIN entry ON entry.id = event.entry_id WHERE value = 'a@example.com' "
            "ORDER BY event.id")).scalars())
    assert actions == ["added", "removed", "relisted", "added"]


def test_unknown_account_on_add_writes_nothing(cli, database_url) -> None:
    """A failed add leaves the list as it was."""
    result = cli("add", "a@example.com", "--reason", "r", "--account", "ghost")
    assert result.exit_code == 2 and "no such account" in result.stderr
    assert cli("check", "a@example.com").exit_code == 1


def test_import_is_idempotent_and_reports_bad_lines(cli, tmp_path: Path) -> None:
    """A bad line is named and skipped; the rest goes in; a second import adds nothing."""
    source = tmp_path / "old.txt"
    source.write_text("# from another tool\nA@Example.com\n112-4455667-7788990\nnot-an-id\n\nb@example.com\n")
    first = cli("import", str(source), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout.splitlines()[-1]) == {"read": 4, "listed": 3, "already": 0, "bad_lines": 1}
    assert "line 4" in first.stderr
    second = json.loads(cli("import", str(source), "--json").stdout.splitlines()[-1])
    assert second == {"read": 4, "listed": 0, "already": 3, "bad_lines": 1}
    rows = cli.check_json("a@example.com", "b@example.com")[1]
    assert all(r["listed"] and r["reports"] == 1 and r["accounts"] == [] for r in rows)


def test_import_supports_entries_and_respects_removals(cli, account, tmp_path: Path) -> None:
    """An import adds its support to a reported entry once; it does not undo a removal of
    something it listed before, but lists again what an operator removed before any import."""
    cli("add", "112-4455667-7788990", "--reason", "notice", "--account", "acme")
    cli("add", "gone@example.com", "--reason", "seed")
    cli("remove", "gone@example.com", "--reason", "reinstated")
    source = tmp_path / "list.txt"
    source.write_text("112-4455667-7788990\nnew@example.com\nnew@example.com\ngone@example.com\n")
    summary = json.loads(cli("import", str(source), "--json").stdout)
    assert summary == {"read": 4, "listed": 3, "already": 1, "bad_lines": 0}
    assert cli.check_json("112-4455667-7788990")[1][0]["reports"] == 2
    assert cli.check_json("gone@example.com")[1][0]["listed"] is True
    cli("remove", "new@example.com", "--reason", "asked")
    again = json.loads(cli("import", str(source), "--json").stdout)
    assert again["listed"] == 0 and cli.check_json("new@example.com")[0] == 1


def test_import_csv_by_column(cli, tmp_path: Path) -> None:
    """CSV from another tool: the named column is read."""
    source = tmp_path / "blacklist.csv"
    source.write_text("name,Email Address\nPat,pat@example.com\nSam,\"sam@example.com\"\n")
    result = cli("import", str(source), "--column", "Email Address", "--quiet")
    assert result.exit_code == 0, result.output
    assert all(r["listed"] for r in cli.check_json("pat@example.com", "sam@example.com")[1])


def test_import_errors_are_one_line(cli, tmp_path: Path) -> None:
    """A missing file, a missing column and a binary file each exit 2 with one line."""
    missing = cli("import", str(tmp_path / "nope.txt"))
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    no_column = cli("import", str(tmp_path / "a.csv"), "--column", "email")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage\xff")
    binary = cli("import", str(tmp_path / "bin.txt"))
    for result in (missing, no_column, binary):
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("optout: error:") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["PYTHONUNBUFFERED", "buffered"])
def test_bulk_output_as_a_real_process(cli, unbuffered: str) -> None:
    """`check -` and `filter` in a process of their own, also under PYTHONUNBUFFERED (where the
    output is gathered into blocks): every answer, in order; after a bad line, every answer
    of the batches looked up before it, whole lines, then the one-line error."""
    cli("add", "112-4455667-7788990", "--reason", "seen")
    queries = [f"buyer{i}@example.com" for i in range(lookup.BATCH + 500)] + ["112-4455667-7788990"]
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}

    def run(*args: str, lines: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "optout", *args], input="\n".join(lines) + "\n", env=env,
                              capture_output=True, text=True, timeout=120)

    good = run("check", "--json", "-", lines=queries)
    assert good.returncode == 0, good.stderr
    rows = [json.loads(line) for line in good.stdout.splitlines()]
    assert [r["query"] for r in rows] == queries and rows[-1]["listed"] and not rows[0]["listed"]
    bad = run("check", "--json", "-", lines=[*queries, "not a query"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert f"stdin line {len(queries) + 1}" in bad.stderr
    assert [json.loads(line)["query"] for line in bad.stdout.splitlines()] == queries[:lookup.BATCH]
    kept = run("filter", lines=queries)
    assert kept.returncode == 0 and kept.stdout.splitlines() == queries[:-1]


def test_filter_drops_listed_rows_plain_and_csv(cli, tmp_path: Path) -> None:
    """filter writes only what a mailer may send to, CSV header and quoting kept."""
    cli("add", "listed@example.com", "--reason", "r")
    plain = cli("filter", input="ok@example.com\nLISTED@example.com\nnot an address\n")
    assert plain.exit_code == 0
    assert plain.stdout == "ok@example.com\n"  # a row that could not be checked is dropped, as /v1/filter does
    assert "suppressed 1" in plain.stderr
    send = tmp_path / "send.csv"
    send.write_text('email,name\nlisted@example.com,"Doe, J"\nok@example.com,"Roe, R"\n')
    result = cli("filter", "--column", "email", "--input", str(send))
    assert result.stdout == 'email,name\nok@example.com,"Roe, R"\n'
    assert cli("filter", "--column", "nope", "--input", str(send)).exit_code == 2


def test_filter_checks_several_columns(cli, tmp_path: Path) -> None:
    """--column given twice: a row goes if any of its values is listed, as /v1/filter does."""
    cli("add", "112-4455667-7788990", "--reason", "r")
    send = tmp_path / "send.csv"
    send.write_text("email,order\nok@example.com,112-4455667-7788990\nok2@example.com,113-0000000-0000001\n")
    both = cli("filter", "--column", "email", "--column", "order", "--input", str(send))
    assert both.exit_code == 0 and both.stdout == "email,order\nok2@example.com,113-0000000-0000001\n"
    assert "suppressed 1" in both.stderr
    refused = cli("filter", "--column", "email", "--column", "nope", "--input", str(send))
    assert refused.exit_code == 2 and "nope" in refused.stderr


def test_stats_counts(cli, account) -> None:
    """stats --json counts listed and removed entries, reports and accounts."""
    cli("add", "a@example.com", "--reason", "r")
    cli("add", "112-4455667-7788990", "--reason", "r")
    cli("remove", "a@example.com", "--reason", "r")
    stats = json.loads(cli("stats", "--json").stdout)
    assert (stats["entries_listed"], stats["entries_removed"], stats["reports"], stats["accounts"]) == (1, 1, 2, 1)


def test_version_and_help(bare_cli) -> None:
    """--version prints the version; --help lists every command group."""
    from optout import __version__

    assert bare_cli("--version").stdout.strip() == f"optout {__version__}"
    text = bare_cli("--help").stdout
    for command in ("check", "filter", "import", "serve", "export", "accounts", "quarantine", "db"):
        assert command in text


def test_help_summaries_never_break_a_sentence(bare_cli, monkeypatch) -> None:
    """Each command's summary in `--help` of every group is its sentence whole: the wrap comes
    at the panel's edge, never where the docstring's line ended."""
    monkeypatch.setenv("COLUMNS", "80")
    for group in ("", "wordings", "quarantine", "accounts", "keys", "db"):
        text = bare_cli(*([group] if group else []), "--help").stdout
        assert "recognise every\n" not in text.replace("│", "").replace("  ", " ")
        for line in text.splitlines():
            cell = line.strip("│ ").rstrip()
            if cell and not cell.startswith(("╭", "╰", "Usage", "-")):
                assert len(line) <= 80
    from optout.cli import app

    for command in app.registered_commands:
        assert command.short_help and "\n" not in command.short_help, command.name


def _listed_count(cli) -> int:
    return json.loads(cli("stats", "--json").stdout)["entries_listed"]


def test_import_of_a_csv_with_a_huge_field_is_one_line(cli, tmp_path: Path) -> None:
    """A 50 MB CSV field (over the csv module's limit): one line naming the CSV line, exit 2,
    nothing written (it was a traceback and exit 1)."""
    path = tmp_path / "big.csv"
    path.write_text("email\r\na@example.com\r\n" + "b" * 50_000_000 + "\r\n")
    result = cli("import", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr[:300]
    assert result.stderr.startswith("optout: error: CSV line 3: field larger than field limit")
    assert _listed_count(cli) == 0


def test_import_quotes_a_bad_line_briefly(cli, tmp_path: Path) -> None:
    """A 50 MB bad line in a txt file is reported with a short prefix, not echoed whole."""
    path = tmp_path / "list.txt"
    path.write_text("a@example.com\n" + "x" * 50_000_000 + "\nb@example.com\n")
    result = cli("import", str(path))
    assert result.exit_code == 0
    assert len(result.stderr) < 300 and "line 2:" in result.stderr and "50,000,000 characters" in result.stderr
    assert result.stdout.startswith("read 3, listed 2")


def test_an_import_that_fails_part_way_leaves_nothing(cli, tmp_path: Path, engine) -> None:
    """Invalid UTF-8 at line 25,001 (past the first batch of 20,000): exit 2, and no entry and
    no import run are left behind (20,000 entries used to stay)."""
    path = tmp_path / "list.txt"
    path.write_bytes(b"".join(f"{i:06d}@example.com\n".encode() for i in range(25_000)) + b"caf\xe9@example.com\n")
    result = cli("import", str(path))
    assert result.exit_code == 2 and "not UTF-8" in result.stderr and result.stderr.count("\n") == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entry")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM importrun")).scalar() == 0


def test_filter_refuses_bad_input_with_one_line(cli, tmp_path: Path) -> None:
    """filter --column on invalid UTF-8, and on a 200 KB CSV field: one line, exit 2 (each was a
    traceback and exit 1)."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"email\ncaf\xe9@example.com\n")
    big = tmp_path / "big.csv"
    big.write_text("email\n" + "x" * 200_000 + "@example.com\n")
    for path, words in ((latin, "not UTF-8"), (big, "field larger than field limit")):
        result = cli("filter", "--column", "email", "--input", str(path))
        assert result.exit_code == 2 and words in result.stderr and result.stderr.count("\n") == 1, result.stderr
