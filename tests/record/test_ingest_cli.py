"""`optout parse` and `optout ingest` on real files, mailboxes and stdin; `optout quarantine`."""

from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

import mail

KEYS = ["source", "kind", "order_id", "buyer_email", "marketplace", "language",
        "confirmation_code", "forwarded_by", "how", "part", "reason"]


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _mbox(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.mbox(path)
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def test_parse_json_has_exactly_the_keys_in_order(bare_cli, notices: Path) -> None:
    """One object per message, exactly the documented keys, absent values null."""
    result = bare_cli("parse", "--json", str(notices / "en-direct.eml"), str(notices / "not-buyer-message.eml"))
    assert result.exit_code == 0
    rows = _json_lines(result.stdout)
    assert [list(r) for r in rows] == [KEYS, KEYS]
    assert rows[0]["order_id"] == "112-4455667-7788990" and rows[1]["kind"] == "other"
    assert rows[1]["order_id"] is None and rows[1]["reason"]


def test_parse_mbox_maildir_folder_and_stdin(bare_cli, tmp_path: Path, notices: Path) -> None:
    """Every kind of input; mbox messages are labelled path#N, in order."""
    raws = [(notices / n).read_bytes() for n in ("en-direct.eml", "fr-direct.eml")]
    box = _mbox(tmp_path / "export.mbox", raws)
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for raw in raws:
        maildir.add(raw)
    result = bare_cli("parse", "--json", str(box), str(tmp_path / "Maildir"), str(notices), "-",
                      input=raws[1].decode("latin-1"))
    rows = _json_lines(result.stdout)
    assert [r["source"] for r in rows[:2]] == [f"{box}#1", f"{box}#2"]
    assert [r["order_id"] for r in rows[:2]] == ["112-4455667-7788990", "403-4565603-0457311"]
    assert sorted(r["order_id"] for r in rows[2:4]) == ["112-4455667-7788990", "403-4565603-0457311"]
    assert len(rows) == 2 + 2 + 6 + 1 and rows[-1]["source"] == "-" and rows[-1]["language"] == "fr"


def test_parse_missing_path_is_one_line(bare_cli, tmp_path: Path) -> None:
    """A missing path exits 2 with one line."""
    result = bare_cli("parse", str(tmp_path / "nope.eml"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_parse_table_for_people(bare_cli, notices: Path) -> None:
    """Without --json a table names the kind and the reason."""
    result = bare_cli("parse", str(notices / "gmail-forwarding-confirmation.eml"))
    assert result.exit_code == 0 and "forwarding_confirmation" in result.stdout.replace("\n", "")


def test_ingest_backfill_is_idempotent(cli, account, tmp_path: Path, notices: Path) -> None:
    """Notices list their buyers once; bounces are quarantined; a second run only finds duplicates."""
    folder = tmp_path / "export"
    shutil.copytree(notices, folder)
    for index in range(40):
        (folder / f"bounce-{index}.eml").write_bytes(mail.delivery_failure(index))
    first = cli("ingest", "--account", "acme", "--json", str(folder))
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["notices"], summary["new_entries"], summary["confirmations"]) == (4, 5, 1)
    assert summary["other"] + summary["duplicates"] == 41  # 40 bounces + the buyer's message
    again = json.loads(cli("ingest", "--account", "acme", "--json", str(folder)).stdout)
    assert (again["new_entries"], again["duplicates"], again["messages"]) == (0, 46, 46)
    check = cli.checks("302-1234567-7654321", "k3v9xq2mz7p4w1r@marketplace.amazon.de")
    assert all(r["listed"] and r["reports"] == 1 and r["accounts"] == ["acme"] for r in check)
    shown = json.loads(cli("accounts", "show", "acme", "--json").stdout)
    assert [c["code"] for c in shown["confirmations"]] == ["418230771"]


def test_reforwarded_notice_is_one_report(cli, account, tmp_path: Path) -> None:
    """The same notice arriving direct and again as a forward adds no second report."""
    direct = mail.as_bytes(mail.notice("en", "112-4455667-7788990"))
    (tmp_path / "a.eml").write_bytes(direct)
    (tmp_path / "b.eml").write_bytes(mail.wrap_attached(direct))
    summary = json.loads(cli("ingest", "--account", "acme", "--json", str(tmp_path)).stdout)
    assert (summary["notices"], summary["new_entries"], summary["duplicates"]) == (2, 1, 1)
    assert cli.checks("112-4455667-7788990")[0]["reports"] == 1


def test_ingest_unknown_or_disabled_account(cli, account, notices: Path) -> None:
    """Unknown and disabled accounts are refused with one line."""
    assert "no such account" in cli("ingest", "--account", "ghost", str(notices)).stderr
    cli("accounts", "disable", "acme")
    result = cli("ingest", "--account", "acme", str(notices))
    assert result.exit_code == 2 and "disabled" in result.stderr


def test_quarantine_list_show_and_retry(cli, account, tmp_path: Path, monkeypatch) -> None:
    """Unrecognised mail is kept with its reason; retry applies recognition again."""
    # an Italian notice: the wording is not in phrases.toml, so it is quarantined
    italian = mail.as_bytes(mail.notice("en", "404-1111111-2222222", sender="donotreply@amazon.it")).replace(
        b"We were unable to deliver", b"Non siamo riusciti a consegnare")
    (tmp_path / "it.eml").write_bytes(italian)
    cli("ingest", "--account", "acme", str(tmp_path / "it.eml"))
    rows = _json_lines(cli("quarantine", "list", "--json").stdout)
    assert len(rows) == 1 and rows[0]["outcome"] == "quarantined"
    assert rows[0]["reason"] == "possible notice in an unknown language"
    assert json.loads(cli("stats", "--json").stdout)["possible_notices_unknown_language"] == 1
    shown = json.loads(cli("quarantine", "show", str(rows[0]["id"]), "--json").stdout)
    assert shown["raw_kept"] is True and shown["sha256"]
    raw = cli("quarantine", "show", str(rows[0]["id"]), "--raw")
    assert raw.stdout_bytes == italian
    assert "not in quarantine" not in cli("quarantine", "retry", "--all").stderr
    assert cli("check", "404-1111111-2222222").exit_code == 1  # still unrecognised
    # extend the English entry with the Italian clause and retry
    from optout.recognise import notice

    extended = notice.Language("en", (notice.LANGUAGES[0].groups[0] + ("non siamo riusciti a consegnare",),)
                               + notice.LANGUAGES[0].groups[1:])
    monkeypatch.setattr(notice, "LANGUAGES", (extended,) + notice.LANGUAGES[1:])
    result = _json_lines(cli("quarantine", "retry", str(rows[0]["id"]), "--json").stdout)
    assert result[0]["outcome"] == "listed"
    assert cli("check", "404-1111111-2222222").exit_code == 0
    assert cli("quarantine", "retry", str(rows[0]["id"])).exit_code == 2  # no longer in quarantine
    assert cli("quarantine", "show", "99999").exit_code == 2
