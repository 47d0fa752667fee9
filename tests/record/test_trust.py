"""Trust: DKIM on notices (signed here with a generated key, keys pinned, DNS mocked), the dkim
trust mode, the per-account volume guard, revoking an account, and tokens kept out of logs."""

from __future__ import annotations

import json
import signal
import smtplib
from pathlib import Path

import pytest

import mail
from optout.config import load_settings
from optout.recognise import parse
from optout.record import trust
from signing import AMAZON_KEY, AMAZON_TXT, EVIL_KEY, pinned, sign
from smtp_server import free_port, subprocess_server

ORDER = "112-4455667-7788990"


@pytest.fixture
def keys_file(tmp_path: Path, monkeypatch) -> Path:
    """Pinned keys for amazon.com, amazonses.com and evil.example; set in OPTOUT_DKIM_KEYS_FILE."""
    path = pinned(tmp_path / "dkim-keys.txt")
    monkeypatch.setenv("OPTOUT_DKIM_KEYS_FILE", str(path))
    return path


@pytest.fixture
def verifier(keys_file: Path, monkeypatch) -> trust.Verifier:
    monkeypatch.setattr(trust, "_dns_txt", lambda name, timeout: pytest.fail(f"DNS asked for {name!r}"))
    return trust.Verifier(load_settings())


def _verdict(verifier: trust.Verifier, raw: bytes) -> tuple[str, str | None]:
    return verifier.check(parse(raw))


def test_signed_direct_notice_passes(verifier) -> None:
    """A notice signed by amazon.com verifies, with the signing domain."""
    assert _verdict(verifier, sign(mail.as_bytes(mail.notice()))) == ("pass", "amazon.com")


def test_body_altered_after_signing_fails(verifier) -> None:
    """Changing the order ID after signing breaks the signature."""
    raw = sign(mail.as_bytes(mail.notice("en", ORDER, cte="8bit"))).replace(ORDER.encode(), b"113-0000000-0000000")
    assert parse(raw).order_id == "113-0000000-0000000"
    assert _verdict(verifier, raw)[0] == "fail"


def test_signature_by_a_non_amazon_domain_is_not_a_pass(verifier) -> None:
    """A valid signature by evil.example does not vouch for an Amazon notice."""
    assert _verdict(verifier, sign(mail.as_bytes(mail.notice()), domain="evil.example", key=EVIL_KEY)) == ("fail", "evil.example")


def test_every_signature_is_checked(verifier) -> None:
    """A bad first signature does not hide a good Amazon one behind it."""
    raw = sign(sign(mail.as_bytes(mail.notice())), domain="evil.example", key=AMAZON_KEY)  # wrong key: fails
    assert _verdict(verifier, raw) == ("pass", "amazon.com")


def test_amazonses_counts_beside_an_amazon_from(verifier) -> None:
    """d=amazonses.com passes for a notice whose From: is Amazon's."""
    assert _verdict(verifier, sign(mail.as_bytes(mail.notice()), domain="amazonses.com"))[0] == "pass"


def test_auto_forward_and_attachment_keep_the_signature(verifier) -> None:
    """Gmail's added X-Forwarded headers and an attached original still verify; inline is none."""
    signed = sign(mail.as_bytes(mail.notice()))
    assert _verdict(verifier, mail.auto_forward(signed)) == ("pass", "amazon.com")
    assert _verdict(verifier, mail.wrap_attached(signed)) == ("pass", "amazon.com")
    inline = mail.wrap_inline(mail.body("en", ORDER), header_block=(
        "---------- Forwarded message ---------\nFrom: Amazon <seller-notification@amazon.com>\nDate: x\nSubject: y\nTo: <a@b.example>"))
    assert _verdict(verifier, inline) == ("none", None)


def test_dns_is_asked_once_per_key_and_cached(keys_file, monkeypatch) -> None:
    """Without a pinned key the verifier asks DNS (mocked here), once per key name."""
    keys_file.write_text("")
    asked: list[bytes] = []

    def fake_dns(name: bytes, timeout: float) -> bytes:
        asked.append(name)
        return AMAZON_TXT.encode()

    monkeypatch.setattr(trust, "_dns_txt", fake_dns)
    verifier = trust.Verifier(load_settings())
    for order in ("111-0000000-0000001", "111-0000000-0000002"):
        assert _verdict(verifier, sign(mail.as_bytes(mail.notice("en", order))))[0] == "pass"
    assert asked == [b"s1._domainkey.amazon.com"]


def test_bad_keys_file_is_one_line(cli, account, tmp_path: Path, monkeypatch) -> None:
    """A keys file with a malformed line stops the command with the line number."""
    bad = tmp_path / "keys.txt"
    bad.write_text("s1._domainkey.amazon.com\n")
    monkeypatch.setenv("OPTOUT_DKIM_KEYS_FILE", str(bad))
    result = cli("ingest", "--account", "acme", str(tmp_path))
    assert result.exit_code == 2 and "line 1" in result.stderr


def _ingest(cli, tmp_path: Path, raws: dict[str, bytes], slug: str = "acme") -> dict:  # noqa: ANN001
    folder = tmp_path / f"in-{slug}-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name, raw in raws.items():
        (folder / f"{name}.eml").write_bytes(raw)
    result = cli("ingest", "--account", slug, "--json", str(folder))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_dkim_mode_holds_unsigned_notices_for_review(cli, account, keys_file, tmp_path: Path, monkeypatch) -> None:
    """trust=dkim: the signed notice lists, the unsigned inline forward waits as unverified."""
    monkeypatch.setenv("OPTOUT_TRUST", "dkim")
    inline = mail.wrap_inline(mail.body("en", "222-0000000-0000002"), header_block=(
        "---------- Forwarded message ---------\nFrom: Amazon <seller-notification@amazon.com>\nDate: x\nSubject: y\nTo: <a@b.example>"))
    summary = _ingest(cli, tmp_path, {"signed": sign(mail.as_bytes(mail.notice())), "inline": inline})
    assert (summary["new_entries"], summary["held"]) == (1, 1)
    signed, unsigned = cli.checks(ORDER, "222-0000000-0000002")
    assert signed["listed"] and signed["verified"] is True
    assert unsigned["listed"] is False
    held = [json.loads(x) for x in cli("quarantine", "list", "--json", "--outcome", "unverified").stdout.splitlines()]
    assert len(held) == 1 and "DKIM none" in held[0]["reason"]
    accepted = json.loads(cli("quarantine", "accept", str(held[0]["id"]), "--json").stdout)
    assert accepted["outcome"] == "listed"
    assert cli.checks("222-0000000-0000002")[0]["verified"] is False
    exported = [json.loads(x) for x in cli("export", "--format", "jsonl", "-o", "-").stdout.splitlines()]
    assert {r["value"]: r["verified"] for r in exported} == {ORDER: True, "222-0000000-0000002": False}


def test_volume_guard_trips_at_the_threshold(cli, account, tmp_path: Path, monkeypatch) -> None:
    """Past the daily limit an account's notices are held, and stats says how many."""
    monkeypatch.setenv("OPTOUT_DAILY_NEW_ENTRIES_LIMIT", "3")
    raws = {f"n{i}": mail.as_bytes(mail.notice("en", f"333-0000000-000000{i}")) for i in range(5)}
    summary = _ingest(cli, tmp_path, raws)
    assert (summary["new_entries"], summary["held"]) == (3, 2)
    later = _ingest(cli, tmp_path, {"n9": mail.as_bytes(mail.notice("en", "333-0000000-0000009"))})
    assert (later["new_entries"], later["held"]) == (0, 1)  # the day's count is kept between runs
    assert json.loads(cli("stats", "--json").stdout)["held_by_volume_guard"] == 3
    other = json.loads(cli("accounts", "add", "other", "--json").stdout)
    assert other and _ingest(cli, tmp_path, {"x": mail.as_bytes(mail.notice("en", "333-1111111-0000000"))},
                             slug="other")["new_entries"] == 1  # the limit is per account


def test_revoke_withdraws_only_what_no_one_else_supports(cli, account, tmp_path: Path) -> None:
    """Revoking A removes entries only A reported; entries B (or an operator) reported stay."""
    cli("accounts", "add", "beta")
    _ingest(cli, tmp_path, {f"a{i}": mail.as_bytes(mail.notice("en", f"444-0000000-000000{i}")) for i in (1, 2)})
    _ingest(cli, tmp_path, {f"b{i}": mail.as_bytes(mail.notice("en", f"444-0000000-000000{i}")) for i in (2, 3)}, slug="beta")
    cli("add", "444-0000000-0000004", "--reason", "operator", "--account", "acme")
    (tmp_path / "old.txt").write_text("444-0000000-0000005\n")
    _ingest(cli, tmp_path, {"a5": mail.as_bytes(mail.notice("en", "444-0000000-0000005"))})
    cli("import", str(tmp_path / "old.txt"))  # order 5: reported by acme, and imported
    result = cli("accounts", "revoke", "acme", "--reason", "bulk-reported its whole customer list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries_removed"] == 2  # order 1 and the manual order 4
    kept = cli.checks("444-0000000-0000005")[0]
    assert kept["listed"] and kept["reports"] == 1 and kept["accounts"] == []  # the import remains
    rows = {r["query"]: r for r in cli.checks(*(f"444-0000000-000000{i}" for i in range(1, 5)))}
    assert rows["444-0000000-0000001"]["listed"] is False
    assert "revoked" in rows["444-0000000-0000001"]["removed_reason"]
    assert rows["444-0000000-0000002"]["listed"] and rows["444-0000000-0000002"]["accounts"] == ["beta"]
    assert rows["444-0000000-0000002"]["reports"] == 1
    assert rows["444-0000000-0000003"]["listed"]
    assert rows["444-0000000-0000004"]["listed"] is False
    shown = json.loads(cli("accounts", "show", "acme", "--json").stdout)
    assert shown["enabled"] is False and "revoked" in shown["disabled_reason"]


def test_listener_never_logs_a_whole_token(cli, account) -> None:
    """The log names the account by slug and a token prefix only."""
    port = free_port()
    proc = subprocess_server(port)
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("a@amazon.com", account["address"], mail.as_bytes(mail.notice()))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log = proc.stderr.read().decode()
    proc.stderr.close()
    token = account["address"].split("@")[0].rsplit("-", 1)[1]
    assert "outcome=listed" in log and f"acme-{token[:4]}" in log
    assert token not in log


def test_dkim_mode_judges_each_notice_of_a_batch(cli, account, keys_file, tmp_path: Path, monkeypatch) -> None:
    """trust=dkim on a mail carrying a signed and an unsigned notice: the signed one lists, the
    unsigned one waits, the message waits for review saying so; accepting it lists the other."""
    from email.message import EmailMessage

    monkeypatch.setenv("OPTOUT_TRUST", "dkim")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "two notices"
    msg.set_content("attached")
    for raw in (sign(mail.as_bytes(mail.notice())), mail.as_bytes(mail.notice("de", "222-0000000-0000002"))):
        msg.add_attachment(raw, maintype="application", subtype="octet-stream", filename="notice.eml")
    summary = _ingest(cli, tmp_path, {"batch": mail.as_bytes(msg)})
    assert (summary["notices"], summary["new_entries"], summary["held"]) == (2, 1, 1)
    assert [c["listed"] for c in cli.checks(ORDER, "222-0000000-0000002")] == [True, False]
    held = [json.loads(x) for x in cli("quarantine", "list", "--json", "--outcome", "unverified").stdout.splitlines()]
    assert len(held) == 1 and held[0]["reason"].startswith("2 opt-out notices: 1 unverified, 1 listed")
    accepted = json.loads(cli("quarantine", "accept", str(held[0]["id"]), "--json").stdout)
    assert accepted["outcome"] == "listed"
    assert [c["listed"] for c in cli.checks(ORDER, "222-0000000-0000002")] == [True, True]
