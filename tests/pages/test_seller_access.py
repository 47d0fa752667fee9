"""The seller pages over plain HTTP (httpx against a real `optout serve`): what a browser would
not send — forged forms, guessed links, another account's IDs — and the cookies' flags."""

from __future__ import annotations

import json

import httpx
import pytest

from browser import csrf_of
from mail import as_bytes, notice
from web import mint

NOT_A_NOTICE = b"From: someone@example.org\r\nSubject: hello\r\n\r\nnothing to see\r\n"


def review(cli) -> list[dict]:  # noqa: ANN001
    listed = cli("quarantine", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_every_form_needs_its_csrf_token(site) -> None:
    """A form posted without the token, or with another, is refused with a 403 page and does
    nothing; with the page's own token it goes through."""
    site.send(NOT_A_NOTICE)
    [held] = review(site.cli)
    with site.signed_in(site.link()) as client:
        token = csrf_of(client.get("/account/acme").text)
        action = f"/account/acme/messages/{held['id']}/retry"
        for form in ({}, {"csrf": "forged"}, {"csrf": token + "x"}):
            refused = client.post(action, data=form)
            assert refused.status_code == 403 and "This form has expired" in refused.text
        assert review(site.cli)[0]["reason"] == held["reason"]
        assert client.post("/signout", data={}).status_code == 403
        assert client.get("/account/acme").status_code == 200  # still signed in
        done = client.post(action, data={"csrf": token})
        assert done.status_code == 303 and done.headers["location"].endswith("outcome=quarantined&message=1#held-1")
    with httpx.Client(base_url=site.base) as stranger:  # the sign-in form too
        assert stranger.post("/signin", data={"key": mint(site.cli, "admin")}).status_code == 403


def test_the_operator_decides_with_a_token_and_only_once(site) -> None:
    """Accept and Reject need the token; a decision on a message no longer waiting is a 404
    page; accepting what is not a notice is a 409 page saying to reject it."""
    site.send(NOT_A_NOTICE)
    [held] = review(site.cli)
    with httpx.Client(base_url=site.base) as admin:
        token = csrf_of(admin.get("/signin").text)
        assert admin.post("/signin", data={"csrf": token, "key": mint(site.cli, "admin")}).status_code == 303
        page = admin.get("/admin")
        assert page.status_code == 200 and "Quarantine by reason" in page.text
        assert 'href="/account/acme"' in page.text
        assert "<dd>hello</dd>" in admin.get("/account/acme").text  # the operator opens every account
        assert admin.post(f"/admin/messages/{held['id']}/reject", data={}).status_code == 403
        not_notice = admin.post(f"/admin/messages/{held['id']}/accept", data={"csrf": token})
        assert not_notice.status_code == 409 and "Reject it instead" in not_notice.text
        assert admin.post(f"/admin/messages/{held['id']}/reject", data={"csrf": token}).status_code == 303
        assert review(site.cli) == []
        again = admin.post(f"/admin/messages/{held['id']}/reject", data={"csrf": token})
        assert again.status_code == 404 and "no longer waiting" in again.text
        assert admin.post(f"/admin/messages/{held['id']}/explode", data={"csrf": token}).status_code == 404


def test_one_account_cannot_reach_anothers_messages(site) -> None:
    """Signed in as acme, rival's quarantined message cannot be recognised again, whether asked
    for under acme's address (404: not in this account) or under rival's (403); nor decided."""
    site.cli("accounts", "add", "rival")
    site.send(NOT_A_NOTICE, slug="rival")
    [theirs] = review(site.cli)
    with site.signed_in(site.link("acme")) as client:
        token = csrf_of(client.get("/account/acme").text)
        mine = client.post(f"/account/acme/messages/{theirs['id']}/retry", data={"csrf": token})
        assert mine.status_code == 404
        assert client.post(f"/account/rival/messages/{theirs['id']}/retry", data={"csrf": token}).status_code == 403
        assert client.post(f"/admin/messages/{theirs['id']}/accept", data={"csrf": token}).status_code == 403
        assert client.get("/account/acme").text.count("nothing to see") == 0
    assert review(site.cli) == [theirs]


def test_failed_sign_ins_are_limited(site) -> None:
    """Ten failed sign-ins from one address in fifteen minutes, then 429 with Retry-After, even
    for a good link; a wrong key counts too."""
    good = site.link()
    with httpx.Client(base_url=site.base) as client:
        for n in range(9):
            assert client.get(f"/signin/guess{n}").status_code == 401
        token = csrf_of(client.get("/signin").text)
        wrong = client.post("/signin", data={"csrf": token, "key": "oo_wrong"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        limited = client.get(good)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "Too many" in limited.text


def test_session_cookie_flags_and_page_headers(site) -> None:
    """The session cookie is HttpOnly and SameSite=Lax, Secure when served over TLS (the proxy
    says so); every page forbids scripts and images from elsewhere and sends no Referer."""
    with httpx.Client(base_url=site.base) as plain:
        cookie = plain.get(site.link()).headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        page = plain.get("/account/acme")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "samesite=strict" in page.headers["set-cookie"].lower()  # the CSRF cookie
    with httpx.Client(base_url=site.base, headers={"X-Forwarded-Proto": "https"}) as tls:
        assert "secure" in tls.get(site.link()).headers["set-cookie"].lower()


def test_signed_out_disabled_and_key_sessions(site) -> None:
    """Not signed in: a page says how to sign in (401) and / leads to the sign-in page. A seller's
    key signs in to its own page, and revoking the key ends that session. A disabled account's
    link is refused."""
    with httpx.Client(base_url=site.base) as client:
        assert client.get("/").headers["location"] == "/signin"
        answer = client.get("/account/acme")
        assert answer.status_code == 401 and "Please sign in" in answer.text
        key = mint(site.cli, "read", "acme")
        token = csrf_of(client.get("/signin").text)
        signed = client.post("/signin", data={"csrf": token, "key": key})
        assert signed.status_code == 303 and signed.headers["location"] == "/account/acme"
        assert client.get("/").headers["location"] == "/account/acme"
        keys = json.loads(site.cli("keys", "list", "--json").stdout.splitlines()[-1])
        assert site.cli("keys", "revoke", str(keys["id"])).exit_code == 0
        assert client.get("/account/acme").status_code == 401
    link = site.link()
    assert site.cli("accounts", "disable", "acme").exit_code == 0
    refused = httpx.get(link)
    assert refused.status_code == 401 and "disabled" in refused.text


def test_messages_page_by_page(site) -> None:
    """Twenty messages a page, newest first, with a link to older ones; a page number that is
    not one reads as the first page."""
    for n in range(22):
        site.send(as_bytes(notice("en", f"118-0000000-00000{n:02d}", msgid=f"<p{n}@amazon.com>")))
    with site.signed_in(site.link()) as client:
        first = client.get("/account/acme")
        assert first.text.count("118-0000000-000") == 20 + 22  # 20 messages, and 22 entries on one page
        assert "118-0000000-0000021" in first.text.split("Your entries")[0]
        assert 'href="?page=2#messages-h">Older' in first.text
        second = client.get("/account/acme", params={"page": "2"}).text.split("Your entries")[0]
        assert "118-0000000-0000001" in second and "118-0000000-0000000" in second
        assert "118-0000000-0000021" not in second
        assert client.get("/account/acme", params={"page": "x", "epage": "-3"}).status_code == 200


@pytest.mark.parametrize("args, words", [
    (["accounts", "link", "acme", "--valid", "soon"], "bad duration"),
    (["accounts", "link", "acme", "--valid", "100d"], "at most 90 days"),
    (["accounts", "link", "nosuch"], "no such account"),
    (["accounts", "unlink", "nosuch"], "no such account"),
    (["quarantine", "reject", "999"], "no message with ID 999"),
])
def test_cli_refusals_are_one_line(cli, account, args, words) -> None:  # noqa: ANN001
    result = cli(*args)
    assert result.exit_code != 0
    assert words in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_cli_link_and_unlink(cli, account, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OPTOUT_PUBLIC_URL", "https://optout.example.com/")
    made = json.loads(cli("accounts", "link", "acme", "--valid", "12h", "--json").stdout)
    assert made["url"].startswith("https://optout.example.com/signin/") and made["expires_at"].endswith("Z")
    cli("accounts", "link", "acme")
    withdrawn = json.loads(cli("accounts", "unlink", "acme", "--json").stdout)
    assert withdrawn == {"slug": "acme", "links_withdrawn": 2}


def test_overview_puts_an_unknown_language_first_and_shows_the_last_export(site, tmp_path) -> None:
    """Two ordinary unrecognised messages and one possible notice in an unknown language: the
    unknown language is listed first all the same, with what to do. The last export is shown."""
    site.send(NOT_A_NOTICE)
    site.send(NOT_A_NOTICE.replace(b"nothing", b"still nothing"))
    site.send(as_bytes(notice("en", "404-1111111-2222222", sender="donotreply@amazon.it", msgid="<it@amazon.it>"))
              .replace(b"We were unable to deliver", b"Non siamo riusciti a consegnare"))
    assert site.cli("export", "--format", "csv", "--output-dir", str(tmp_path / "out")).exit_code == 0
    with httpx.Client(base_url=site.base) as admin:
        token = csrf_of(admin.get("/signin").text)
        admin.post("/signin", data={"csrf": token, "key": mint(site.cli, "admin")})
        page = admin.get("/admin").text
    reasons = page.split('id="reasons-h"')[1].split("</ul>")[0]
    assert reasons.index("possible notice in an unknown language") < reasons.index("no order ID")
    assert "<strong>1</strong> possible notice in an unknown language: real notices may be missed" in reasons
    assert "<strong>2</strong> no order ID" in reasons
    last_export = page.split('id="export-h"')[1]
    assert "No export has been written yet" not in last_export and "csv" in last_export


def test_each_account_sees_its_own_keys_only(site) -> None:
    """The account page lists the account's keys by their first characters; another account's
    keys, and the operator's, are not on it; no key is ever shown whole."""
    site.cli("accounts", "add", "rival")
    mine, theirs, admin = mint(site.cli, "read", "acme"), mint(site.cli, "write", "rival"), mint(site.cli, "admin")
    with site.signed_in(site.link("acme")) as client:
        page = client.get("/account/acme").text
    keys = page.split('id="keys-h"')[1]
    assert mine[:10] in keys and mine not in keys
    assert theirs[:10] not in page and admin[:10] not in page


def test_a_database_outage_is_a_page_that_says_to_try_again(site, database_url) -> None:
    """The database file moved away under a signed-in seller: a 503 page saying to reload in a
    minute (never a 500, never a JSON document on a page); back, and the page is back."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: the API's outage tests cut PostgreSQL")
    import os
    from pathlib import Path
    from urllib.parse import urlsplit

    from waiting import until

    path = Path(urlsplit(database_url).path)
    with site.signed_in(site.link()) as client:
        assert client.get("/account/acme").status_code == 200
        os.replace(path, path.with_name("aside.db"))
        down = client.get("/account/acme")
        assert down.status_code == 503 and "Try again in a minute" in down.text
        assert down.headers["content-type"].startswith("text/html") and down.headers["retry-after"] == "5"
        os.replace(path.with_name("aside.db"), path)
        until(lambda: client.get("/account/acme").status_code == 200, what="the page to come back", timeout=30)


@pytest.fixture
def dkim_pinned(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """Amazon's test key pinned for the `optout serve` about to start (asked before `site`)."""
    from signing import pinned

    monkeypatch.setenv("OPTOUT_DKIM_KEYS_FILE", str(pinned(tmp_path / "dkim-keys.txt")))


def test_the_checklist_follows_what_arrived(dkim_pinned, site) -> None:
    """Before anything arrives every route says how to set it up; then a DKIM-signed notice
    straight from Amazon, one redirected by an Outlook rule and one forwarded by hand each turn
    their row to working, with the marketplaces seen."""
    from mail import outlook_redirect, wrap_attached
    from signing import sign

    with site.signed_in(site.link()) as client:
        before = client.get("/account/acme").text
        assert before.count("Not seen yet") == 2 and "Not set up" in before and "5.7.520" in before
        signed = sign(as_bytes(notice("en", "119-0000000-0000001", msgid="<c1@amazon.com>")))
        site.send(signed)
        site.send(outlook_redirect(sign(as_bytes(notice("en", "119-0000000-0000002", msgid="<c2@amazon.com>")))))
        site.send(wrap_attached(as_bytes(notice("de", "119-0000000-0000003", msgid="<c3@amazon.de>"))))
        after = client.get("/account/acme").text
    rows = after.split('id="setup-h"')[1].split("</ul>")[0]
    assert "with Amazon's signature checked" in rows and "Marketplaces seen: amazon.com." in rows
    assert "Last notice forwarded by an Outlook rule" in rows and "5.7.520" not in rows
    assert "Last notice forwarded by hand" in rows and "Not seen yet" not in rows
