"""Seller accounts: addresses with an unguessable token, routing, rotation, disabling."""

import json
import re

from optout.record import accounts
from optout.store.db import engine as make_engine


def test_add_prints_an_address_with_an_80_bit_token(cli, account) -> None:
    """The ingest address is <slug>-<16 base32 chars>@<ingest domain>."""
    assert account["slug"] == "acme"
    assert re.fullmatch(r"acme-[a-z2-7]{16}@ingest\.example\.net", account["address"])


def test_add_without_json_prints_just_the_address(cli) -> None:
    """A person or a script gets the address alone on stdout."""
    result = cli("accounts", "add", "shop-2")
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("shop-2-")


def test_duplicate_and_bad_slugs_are_refused(cli, account) -> None:
    """Exit 2 with one line on stderr, no traceback."""
    for slug in ("acme", "Bad Slug!", "x" * 41):
        result = cli("accounts", "add", slug)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_unknown_account_is_an_error(cli, database_url) -> None:
    """show, disable and rotate of an unknown slug exit 2."""
    for command in ("show", "disable", "rotate"):
        result = cli("accounts", command, "nobody")
        assert result.exit_code == 2
        assert "no such account" in result.stderr


def _route(conn, recipient: str, domain: str) -> dict | None:
    """The account the listener would route ``recipient`` to."""
    return accounts.match_recipient(accounts.routing_table(conn), recipient=recipient, domain=domain)


def test_routing_is_case_insensitive_and_ignores_plus_tags(cli, account, settings) -> None:
    """The envelope recipient picks the account, whatever its case or +tag."""
    eng = make_engine(settings)
    local, domain = account["address"].split("@")
    with eng.connect() as conn:
        for rcpt in (account["address"], account["address"].upper(), f"{local}+gmail@{domain}"):
            found = _route(conn, rcpt, "ingest.example.net")
            assert found and found["slug"] == "acme"
        assert _route(conn, f"acme-aaaaaaaaaaaaaaaa@{domain}", domain) is None
        assert _route(conn, f"{local}@other.example", domain) is None
    eng.dispose()


def test_rotate_retires_the_old_address(cli, account, settings) -> None:
    """After rotate, only the new address routes."""
    result = cli("accounts", "rotate", "acme", "--json")
    new = json.loads(result.stdout)["address"]
    assert new != account["address"]
    eng = make_engine(settings)
    with eng.connect() as conn:
        assert _route(conn, account["address"], "ingest.example.net") is None
        assert _route(conn, new, "ingest.example.net")["slug"] == "acme"
    eng.dispose()


def test_disabled_account_does_not_route(cli, account, settings) -> None:
    """A disabled account's address stops working and list/show say so."""
    assert cli("accounts", "disable", "acme").exit_code == 0
    eng = make_engine(settings)
    with eng.connect() as conn:
        assert _route(conn, account["address"], "ingest.example.net") is None
    eng.dispose()
    shown = json.loads(cli("accounts", "show", "acme", "--json").stdout)
    assert shown["enabled"] is False and shown["disabled_at"]
    listed = [json.loads(line) for line in cli("accounts", "list", "--json").stdout.splitlines()]
    assert [a["slug"] for a in listed] == ["acme"]
