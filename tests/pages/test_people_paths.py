"""The seller pages as a seller on a phone and an operator meet them, in a real browser (Debian's
Chromium) against a real `optout serve`: messages as cards with what happened first, the address
wrapping whole, a kept message shown as sender, subject and text (its order found in the
subject), a buyer's relayed message named as such, a hand forward from Outlook on the Outlook
card, the exact filter and rule to set up, who runs optout and how to get a new link, the icon,
and the API docs working with nothing fetched from elsewhere."""

from __future__ import annotations

import pytest

from browser import accessible, shot
from mail import as_bytes, body, notice, wrap_inline
from samples import buyer_message

ORDER = "118-3334445-5556667"


@pytest.mark.serve(operator_name="Shop Services Ltd", operator_contact="help@shop-services.example")
def test_a_seller_on_a_phone(site, chromium) -> None:
    """390 px wide: no sideways scroll, the address wraps and is whole on screen, each message a
    card whose first line says what happened; the review list shows sender, subject and the
    order the subject names, the relay labelled as a buyer's message."""
    site.send(as_bytes(notice("en", ORDER, msgid="<p1@amazon.com>")))
    site.send(buyer_message())
    site.send(b"From: Pat <pat@example.org>\r\nDate: Fri, 04 Dec 2026 12:50:00 +0100\r\n"
              b"Subject: About order 119-1112223-3334445\r\n\r\nplease call me\r\n")
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(site.link())
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.locator("#address").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert page.locator("#address").inner_text() == site.address()
        card = page.locator("#messages-h ~ .scroll table.cards tbody tr").first
        first_cell = card.locator("td").first
        assert first_cell.is_visible() and first_cell.bounding_box()["y"] < card.locator("td").nth(1).bounding_box()["y"]
        assert "a buyer's message, relayed by Amazon" in page.locator("table.cards").inner_text()
        kept = page.locator(".held li", has_text="please call me")
        assert "pat@example.org" in kept.inner_text() and "119-1112223-3334445" in kept.locator("dl").inner_text()
        sent = kept.locator("dl time")  # "Sent" as a time in the viewer's zone, not the raw header
        assert sent.get_attribute("datetime") == "2026-12-04T11:50:00Z" and "+0100" not in kept.inner_text()
        assert page.locator(".times-note").is_visible()
        assert "Shop Services Ltd" in page.locator("footer").inner_text()
        # a table wider than the phone scrolls inside its region, and shows it: a shadow at the edge
        wide = page.locator("#entries-h ~ .scroll")
        assert wide.evaluate("e => e.scrollWidth > e.clientWidth")
        assert "radial-gradient" in wide.evaluate("e => getComputedStyle(e).backgroundImage")
        # a heading breaks between phrases, in balanced lines
        assert page.locator("h1").evaluate("e => getComputedStyle(e).textWrap || getComputedStyle(e).textWrapStyle") \
            in ("balance", "wrap balance")
        accessible(page)
        shot(page, "seller-phone-cards")
    finally:
        context.close()


def test_setup_cards_give_the_exact_rules_and_see_an_outlook_hand_forward(site, browser) -> None:
    """The Gmail card shows the filter word for word with the seller's address; after a hand
    forward from Outlook the Outlook card says it was seen."""
    browser.goto(site.link())
    gmail = browser.locator(".checklist li", has_text="Gmail")
    assert '"opt out" OR "opted out"' in gmail.inner_text() and site.address() in gmail.inner_text()
    outlook = browser.locator(".checklist li", has_text="Outlook")
    assert "Not seen yet" in outlook.inner_text() and "Redirect to" in outlook.inner_text()
    forwarded = wrap_inline(body("en", ORDER),
                            header_block="From: Amazon Seller Central <seller-notification@amazon.com>\n"
                                         "Sent: Tuesday, March 3, 2026 9:14 AM\nTo: sam@seller-shop.example\n"
                                         "Subject: Your message to a buyer could not be delivered")
    site.send(b"Thread-Index: AdqF3x1234567890abcdef==\r\nX-MS-Has-Attach: \r\n" + forwarded)
    browser.reload()
    assert "You forwarded a notice by hand from Outlook" in browser.locator(".checklist li", has_text="Outlook").inner_text()
    accessible(browser)
    shot(browser, "seller-outlook-by-hand")


@pytest.mark.serve(operator_name="Shop Services Ltd")
def test_a_dead_link_names_the_operator_when_there_is_no_contact(site, browser) -> None:
    """With a name but no address to write to, the page says whom to ask, by name."""
    browser.goto(site.link()[:-3] + "xyz")
    assert "Ask Shop Services Ltd, who runs optout for you, to send you a new link." in browser.locator("main").inner_text()


def test_a_re_sent_notice_leaves_a_trace_on_the_page(site) -> None:
    """The same notice mailed again (the 250 says duplicate): one message on the page, which says
    it was received again, and when."""
    import httpx

    raw = as_bytes(notice("en", ORDER, msgid="<again@amazon.com>"))
    for _ in range(3):
        site.send(raw)
    with httpx.Client(timeout=30) as client:
        page = client.get(site.link(), follow_redirects=True).text
    assert page.count(ORDER) >= 1 and "Received again (2×), last" in page and "nothing new" in page


def test_making_a_link_warns_when_no_operator_is_named(site) -> None:
    """`accounts link` without operator_name or operator_contact says the page cannot name anyone."""
    made = site.cli("accounts", "link", "acme")
    assert made.exit_code == 0 and "operator_name and operator_contact are not set" in made.stderr


@pytest.mark.serve(operator_contact="help@shop-services.example")
def test_a_dead_link_offers_a_new_one(site, browser) -> None:
    """An expired or altered link's page offers "Send me a new link", to the operator's address
    (and, showing no time, says nothing about time zones)."""
    browser.goto(site.link()[:-3] + "xyz")
    assert not browser.locator(".times-note").is_visible()
    button = browser.get_by_role("link", name="Send me a new link")
    assert button.get_attribute("href").startswith("mailto:help@shop-services.example?subject=")
    accessible(browser)


def test_the_icon_and_the_api_docs_work_offline(site, browser) -> None:
    """/favicon.ico answers; /docs renders Swagger UI and /redoc ReDoc from this server alone:
    nothing they ask of elsewhere is fetched."""
    outside: list[str] = []
    browser.on("request", lambda r: outside.append(r.url) if not r.url.startswith(site.base) else None)
    icon = browser.request.get(site.base + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    browser.goto(site.base + "/docs")
    browser.locator(".opblock-summary-path", has_text="/v1/check").first.wait_for()
    assert not outside
    shot(browser, "api-docs-offline")
    # ReDoc's bundle asks for the Redocly logo from its CDN: the docs' policy keeps it in the page
    mine = (site.base, "blob:" + site.base)
    answered: list[str] = []
    failed: list[str] = []
    browser.on("response", lambda r: answered.append(r.url) if not r.url.startswith(mine) else None)
    browser.on("requestfailed", lambda r: failed.append(r.failure or "") if not r.url.startswith(mine) else None)
    shown = browser.goto(site.base + "/redoc")
    assert "img-src 'self'" in shown.headers["content-security-policy"]
    browser.get_by_text("Look up a send list").first.wait_for()
    browser.wait_for_load_state("networkidle")
    assert not answered, answered
    assert failed and all("csp" in why.lower() for why in failed), failed  # stopped by the policy, not by a network that happens to be away
