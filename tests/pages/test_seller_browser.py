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
    assert browser.title() == "Acme Ltd · optout"
    code = browser.locator(".code")
    assert code.inner_text() == "620195834"
    assert "Action needed" in browser.locator("li", has=browser.get_by_role("heading", name="Gmail")).inner_text()
    assert browser.locator("#address").inner_text() == site.address()
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


def test_expired_altered_and_withdrawn_links_are_refused(site, browser, engine) -> None:
    """A link past its time, one altered by a character, and one withdrawn with `optout accounts
    unlink` each give a 401 page saying what happened and how to get a new link; withdrawing a
    link also signs out the browser that used it."""
    from sqlalchemy import update

    from optout.record.signin import LINK

    expired = site.link(valid="30m")
    with engine.begin() as conn:  # half an hour passes
        conn.execute(update(LINK).values(expires_at=LINK.c.created_at))
    answer = browser.goto(expired)
    assert answer.status == 401
    assert browser.get_by_role("heading", level=1).inner_text() == "This sign-in link does not work"
    assert "has expired" in browser.inner_text("main") and "new link" in browser.inner_text("main")
    accessible(browser)
    shot(browser, "signin-link-expired")

    good = site.link()
    altered = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert browser.goto(altered).status == 401
    assert "not valid" in browser.inner_text("main")

    assert browser.goto(good).status == 200 and browser.url.endswith("/account/acme")
    assert site.cli("accounts", "unlink", "acme").exit_code == 0
    assert browser.reload().status == 401  # signed out at once
    assert "Please sign in" in browser.inner_text("h1")
    assert browser.goto(good).status == 401
    assert "withdrawn" in browser.inner_text("main")


def test_another_accounts_pages_stay_closed(site, browser) -> None:
    """Signed in as one seller, every page of another account is refused: its page, its CSV, its
    quarantine's button, the operator overview; and an account that does not exist looks the same."""
    site.cli("accounts", "add", "rival")
    site.send(b"From: someone@example.org\r\nSubject: hello\r\n\r\nnot a notice 116-1111111-1111111\r\n", slug="rival")
    browser.goto(site.link("acme"))
    for path in ("/account/rival", "/account/rival/entries.csv", "/account/nosuch", "/admin"):
        answer = browser.goto(site.base + path)
        assert answer.status == 403, path
        assert "116-1111111-1111111" not in browser.content()
    assert "belongs to another seller account" in browser.goto(site.base + "/account/rival").text()
    accessible(browser)
    shot(browser, "another-account-refused")


def test_a_hostile_message_is_shown_as_text(site, browser) -> None:
    """A quarantined message whose headers carry script, a form and a remote image: the page
    shows them as text; nothing runs, nothing is fetched, no dialog opens."""
    hostile = ("From: <script>alert('from')</script> <x@example.org>\r\n"
               "Subject: <img src=\"http://images.example.net/pixel.png\" onerror=\"alert(1)\">\r\n"
               "X-Form: <form action=\"http://evil.example.net/steal\"><input name=k></form>\r\n"
               "Content-Type: text/html\r\n\r\n"
               "<html><body><script>alert(2)</script><img src=\"http://images.example.net/b.png\">"
               "order 117-2222222-3333333</body></html>\r\n").encode()
    site.send(hostile)
    dialogs, outside = [], []
    browser.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site.base) else None)
    browser.goto(site.link())
    item = browser.locator(".held li").first
    shown = item.inner_text()  # sender, subject and the text's start, as text
    assert "<script>alert('from')</script>" in shown and '<img src="http://images.example.net/pixel.png"' in shown
    assert "117-2222222-3333333" in item.locator("dl.summary").inner_text()  # the order the text names
    assert browser.locator("script").count() == 1  # the page's own
    assert browser.locator("img").count() == 0
    assert browser.locator("form[action^='http']").count() == 0
    assert not dialogs and not outside
    accessible(browser)
    shot(browser, "hostile-message-as-text")


def test_works_without_javascript(site, chromium) -> None:
    """With JavaScript off: the address is in a field to select, times read in UTC, and the
    "recognise again" form works."""
    site.send(b"From: a@example.org\r\nSubject: hi\r\n\r\nno notice here\r\n")
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(site.link())
        assert page.locator("#address").inner_text() == site.address()
        assert not page.get_by_role("button", name="Copy").is_visible()
        assert page.locator("time").first.inner_text().endswith(" UTC")
        page.get_by_role("button", name="Recognise again").click()
        assert page.url.endswith("/account/acme?done=retried&outcome=quarantined&message=1#held-1")
        assert "still not recognised" in page.locator("#held-1 .note").inner_text()  # where the button was
        shot(page, "seller-account-no-javascript")  # (axe itself needs JavaScript: it runs on the other pages)
    finally:
        context.close()


def test_local_time_with_utc_on_hover_and_a_phone_screen(site, chromium) -> None:
    """In Tokyo the times read in Tokyo's zone, the UTC time on hover; the copy button copies
    the address; on a phone's width nothing needs sideways scrolling but the tables."""
    site.send(as_bytes(notice("en", ORDER, msgid="<t1@amazon.com>")))
    context = chromium.new_context(timezone_id="Asia/Tokyo", locale="en-US", viewport={"width": 390, "height": 844},
                                   permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto(site.link())
        stamp = page.locator("time").first
        utc, stamped = stamp.get_attribute("title"), stamp.get_attribute("datetime")
        assert utc and utc.endswith(" UTC") and stamped
        hour_utc = int(stamped[11:13])
        assert re.search(rf"\b{hour_utc % 12 or 12}:{stamped[14:16]}\s?[AP]M UTC$", utc), (utc, stamped)
        shown = stamp.inner_text()
        assert "UTC" not in shown
        assert re.search(rf"\b{((hour_utc + 9) % 24) % 12 or 12}:{stamped[14:16]}\s?[AP]M", shown), (shown, stamped)
        page.get_by_role("button", name="Copy").click()
        until(lambda: page.locator(".copied").inner_text() == "Copied", what="the copy button's answer")
        assert page.evaluate("navigator.clipboard.readText()") == site.address()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        accessible(page)
        shot(page, "seller-account-phone")
    finally:
        context.close()
