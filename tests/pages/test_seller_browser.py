"""The seller pages in a real browser (Debian's Chromium, headless) against a real `optout
serve`: mail goes in by SMTP, the seller and the operator look and click. Each test saves a
screenshot and runs axe-core on every page it sees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import accessible, shot
from mail import as_bytes, auto_forward, notice
from samples import gmail_confirmation
from waiting import until

ORDER = "114-2223334-5556667"


def test_gmail_code_then_a_notice_listed(site, browser) -> None:
    """A Gmail verification arrives by SMTP: the seller sees its code in large type. Then a notice
    arrives by Gmail's forward: the Gmail row turns to working and the order is listed."""
    site.send(gmail_confirmation(code="620195834", to=site.address()))
    browser.goto(site.link())
    assert browser.url == site.base + "/account/acme"
    code = browser.locator(".code")
    assert code.inner_text() == "620195834"
    assert "Action needed" in browser.locator("li", has=browser.get_by_role("heading", name="Gmail")).inner_text()
    assert browser.input_value("#address") == site.address()
    accessible(browser)
    shot(browser, "seller-gmail-confirmation")

    site.send(auto_forward(as_bytes(notice("en", ORDER, to="sam@seller-shop.example", msgid="<b1@amazon.com>"))))
    browser.reload()
    gmail = browser.locator("li", has=browser.get_by_role("heading", name="Gmail")).inner_text()
    assert "Working" in gmail and "Last notice forwarded by Gmail" in gmail
    assert browser.locator(".code").count() == 0
    row = browser.locator("tr", has_text=ORDER).first
    assert "Listed" in row.inner_text() and "Gmail forward" in row.inner_text()
    accessible(browser)
    shot(browser, "seller-account")


def test_entries_search_and_csv(site, browser) -> None:
    """The entries box finds an order; the CSV download holds the account's entries."""
    for n in range(3):
        site.send(as_bytes(notice("en", f"114-2223334-555000{n}", msgid=f"<s{n}@amazon.com>")))
    browser.goto(site.link())
    assert browser.locator("#entries-h + form + .scroll tbody tr").count() == 3
    browser.get_by_label("Find an order ID or buyer address").fill("5550001")
    browser.get_by_role("button", name="Search").click()
    rows = browser.locator("#entries-h + form + .scroll tbody tr")
    assert rows.count() == 1 and "114-2223334-5550001" in rows.inner_text()
    with browser.expect_download() as download:
        browser.get_by_role("link", name=re.compile("Download these entries")).click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kind,value,status,marketplace,first_seen,last_seen"
    assert len(lines) == 2 and lines[1].startswith("order,114-2223334-5550001,listed,amazon.com,20")
    accessible(browser)


@pytest.mark.serve(daily_new_entries_limit="1")
def test_held_notice_accepted_from_the_overview(site, browser) -> None:
    """Past the daily volume guard a notice is held; the operator signs in with the admin key,
    sees it under "Waiting for your decision", accepts it, and the buyer is listed."""
    site.send(as_bytes(notice("en", "115-0000000-0000001", msgid="<h1@amazon.com>")))
    site.send(as_bytes(notice("en", "115-0000000-0000002", msgid="<h2@amazon.com>")))
    exit_code, records = site.cli.check_json("115-0000000-0000002")
    assert exit_code == 1 and records[0]["listed"] is False

    from web import mint

    browser.goto(site.base + "/signin")
    accessible(browser)
    browser.get_by_label("API key").fill(mint(site.cli, "admin"))
    browser.get_by_role("button", name="Sign in").click()
    assert browser.url == site.base + "/admin"
    waiting = browser.locator("#waiting + p + .scroll tbody tr", has_text="115-0000000-0000002")
    assert "Held" in waiting.inner_text()
    accessible(browser)
    shot(browser, "operator-overview")
    waiting.get_by_role("button", name="Accept").click()
    assert "the message is now listed" in browser.get_by_role("status").inner_text()
    assert site.cli.checks("115-0000000-0000002")[0]["listed"] is True
    assert browser.locator("tr", has_text="115-0000000-0000002").count() == 0
