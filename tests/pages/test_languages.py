"""The seller pages in the seller's language: chosen from the browser's Accept-Language (in a real
Chromium set to each language), switched by hand and remembered, English where no catalogue
exists; dates and "3 days ago" in that language; every sentence of the pages translated in each
catalogue (a new sentence without its translations fails here)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy

import catalogues
from browser import accessible, shot
from mail import as_bytes, notice, wrap_inline
from mail import body as mail_notice
from optout.clock import utcnow
from optout.http import language

ORDER = "114-4445556-6667778"
# per language: the address heading, the words of "3 days ago", the Seller Central card's tag (unsigned test mail: arriving)
EXPECTED = {
    "de": ("Ihre optout-Adresse", "vor 3 Tagen", "Kommt an"),
    "fr": ("Votre adresse optout", "il y a 3 jours", "Arrive"),
    "es": ("Su dirección de optout", "hace 3 días", "Llegando"),
    "it": ("Il tuo indirizzo optout", "3 giorni fa", "In arrivo"),
    "ja": ("あなたの optout アドレス", "3 日前", "受信中"),
    "zh": ("您的 optout 地址", "3天前", "正在接收"),
}
BROWSER_LOCALE = {"de": "de-DE", "fr": "fr-FR", "es": "es-ES", "it": "it-IT", "ja": "ja-JP", "zh": "zh-CN"}


def test_every_sentence_of_the_pages_is_translated_in_each_catalogue() -> None:
    codes = sorted(path.stem for path in language.LOCALE.glob("*.po"))
    assert {"de", "fr", "ja", "es", "it", "zh"} <= set(codes)
    template = catalogues.sentences()
    assert len(template) > 100  # the extraction found the pages' sentences, not nothing
    assert catalogues.problems(template, codes) == []


@pytest.mark.parametrize(("header", "chosen"), [
    ("de-DE,de;q=0.9,en;q=0.8", "de"),
    ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
    ("en;q=0.5, ja", "ja"),  # by quality, not by position
    ("zh-TW,zh;q=0.9", "zh"),
    ("zh-Hant-HK", "zh"),
    ("pt-BR,pt;q=0.9,it;q=0.3", "it"),  # the first language with a catalogue
    ("ko-KR,ko;q=0.9", "en"),  # none: English
    ("de;q=0, es;q=0.1", "es"),  # q=0 means "not this one"
    ("fr;q=abc, es", "es"),  # a broken q-value drops that language only
    ("", "en"),
    ("*", "en"),
])
def test_accept_language_picks_the_best_catalogue(header: str, chosen: str) -> None:
    assert language.from_accept_language(header) == chosen


def test_the_switch_beats_the_cookie_which_beats_the_browser() -> None:
    assert language.choose(asked="ja", remembered="de", accept="fr") == "ja"
    assert language.choose(asked="xx", remembered="de", accept="fr") == "de"
    assert language.choose(asked=None, remembered="klingon", accept="fr") == "fr"


def _three_days_back(database_url: str) -> None:
    """The notice arrived three days ago (set in the real database, as time would)."""
    engine = sqlalchemy.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE message SET received_at = :at"),
                     {"at": (utcnow() - timedelta(days=3, hours=1)).replace(tzinfo=None)})
    engine.dispose()


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_a_browser_in_each_language_gets_its_pages(site, chromium, database_url, code) -> None:
    """Chromium set to the language (its Accept-Language and its date formats): the page's lang,
    its words, "3 days ago" and the date in that language; axe finds nothing."""
    site.send(as_bytes(notice("en", ORDER, msgid=f"<lang-{code}@amazon.com>")))
    _three_days_back(database_url)
    context = chromium.new_context(locale=BROWSER_LOCALE[code], viewport={"width": 1100, "height": 900})
    page = context.new_page()
    try:
        page.goto(site.link())
        heading, ago, arriving = EXPECTED[code]
        assert page.locator("html").get_attribute("lang") == code
        assert page.locator("#address-h").inner_text() == heading
        card = page.locator(".checklist li").first.inner_text()
        assert ago in card and arriving in card, card
        assert "Your optout address" not in page.content()
        assert "ago" not in card and "days" not in card
        # the times, rewritten in the viewer's zone by the page's script, in the page's language
        stamp = page.locator("#messages-h ~ .scroll time").first
        shown = stamp.inner_text()
        assert shown and not shown.endswith("UTC"), shown
        assert stamp.get_attribute("title").endswith(" UTC")
        assert page.evaluate(f"new Date('2026-12-03T09:00:00Z').toLocaleString('{code}', "
                             "{dateStyle: 'medium'}).length > 0")
        accessible(page)
        shot(page, f"seller-account-{code}")
    finally:
        context.close()


@pytest.mark.parametrize("code", ["fr", "ja"])
def test_a_phone_in_french_and_japanese(site, chromium, code) -> None:
    """390 px wide, in French and in Japanese: nothing scrolls sideways but the tables inside
    their regions, no heading leaves a character alone on its last line, a waiting message's
    reason is in the language; axe finds nothing."""
    site.send(b"From: Pat <pat@example.org>\r\nSubject: lunch\r\n\r\nare you free on friday\r\n")
    site.send(as_bytes(notice("en", ORDER, msgid=f"<phone-{code}@amazon.com>")))
    context = chromium.new_context(locale=BROWSER_LOCALE[code], viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(site.link())
        assert page.locator("html").get_attribute("lang") == code
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        lonely = page.evaluate("""() => [...document.querySelectorAll('h1, h2, h3')].filter(h => {
            const range = document.createRange(); range.selectNodeContents(h);
            const lines = [...range.getClientRects()].filter(r => r.width > 0);
            if (lines.length < 2) return false;
            const last = lines[lines.length - 1];
            return last.width < parseFloat(getComputedStyle(h).fontSize) * 1.6;
        }).map(h => h.textContent)""")
        assert not lonely, lonely
        said = {"fr": "il ne contient aucun numéro de commande", "ja": "注文番号が含まれていません"}[code]
        assert said in page.locator(".held").inner_text()
        accessible(page)
        shot(page, f"seller-phone-{code}")
    finally:
        context.close()


def test_the_switch_changes_the_language_and_remembers_it(site, chromium) -> None:
    """A German browser; the seller picks 日本語, then English: each sticks on the next visit."""
    context = chromium.new_context(locale="de-DE", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(site.link())
        assert page.locator("#address-h").inner_text() == "Ihre optout-Adresse"
        switch = page.get_by_role("navigation", name="Sprache")
        assert switch.get_by_role("link", name="Deutsch").get_attribute("aria-current") == "true"
        switch.get_by_role("link", name="日本語").click()
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.locator("#address-h").inner_text() == "あなたの optout アドレス"
        page.goto(site.base + "/account/acme")  # no ?lang: the cookie remembers
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # Japanese on a phone
        accessible(page)
        shot(page, "seller-account-ja-phone")
        page.get_by_role("navigation", name="言語").get_by_role("link", name="English").click()
        page.goto(site.base + "/account/acme")
        assert page.locator("#address-h").inner_text() == "Your optout address"
    finally:
        context.close()


@pytest.mark.serve(operator_contact="help@shop-services.example")
def test_error_and_sign_in_pages_speak_the_language(site) -> None:
    """Without a browser: a dead link's page, the sign-in form and a wrong key, in French; a
    language without a catalogue (Korean) gets English; a made-up ?lang is ignored."""
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    with httpx.Client(base_url=site.base, timeout=30) as client:
        dead = client.get(site.link()[:-3] + "xyz", headers=french)
        assert dead.status_code == 401 and dead.headers["content-language"] == "fr"
        assert "Ce lien de connexion ne fonctionne pas" in dead.text
        assert "Ce lien de connexion n&#39;est pas valide" in dead.text
        assert "M'envoyer un nouveau lien" in dead.text  # our own words: trusted markup
        form = client.get("/signin", headers=french)
        assert "<h1>Se connecter</h1>" in form.text and 'lang="fr"' in form.text
        assert "accept-language" in form.headers["vary"].lower()
        korean = client.get("/signin", headers={"Accept-Language": "ko-KR"})
        assert korean.headers["content-language"] == "en" and "<h1>Sign in</h1>" in korean.text
        made_up = client.get("/signin?lang=xx", headers={"Accept-Language": "it"})
        assert made_up.headers["content-language"] == "it" and language.COOKIE not in made_up.cookies


def test_the_gmail_filter_words_are_the_sellers_language(site, tmp_path) -> None:
    """A Japanese seller's page gives Japanese words beside English ones; a Spanish one, a phrase
    of the Spanish wording the operator taught; a German one, German words."""
    taught = tmp_path / "es.toml"
    taught.write_text('[[taught]]\nlanguage = "es"\nkind = "notice"\nsentence = "no hemos podido entregar su '
                      'mensaje sobre el pedido ### porque el comprador ha decidido no recibir mensajes"\n')
    assert site.cli("wordings", "import", str(taught)).exit_code == 0

    def words(code: str) -> str:
        with httpx.Client(timeout=30, headers={"Accept-Language": code}) as client:
            page = client.get(site.link(), follow_redirects=True)
        found = re.search(r"<dt>[^<]*</dt><dd><code>([^<]*)</code></dd>\s*<dt>[^<]*</dt><dd>[^<]*<em>", page.text)
        shown = re.findall(r"<code>(&#34;[^<]*)</code>", page.text)
        assert shown, page.text[:500]
        return html.unescape(shown[0] if not found else found[1])

    assert words("ja") == '"opt out" OR "opted out" OR "未承諾"'
    assert words("es") == '"opt out" OR "opted out" OR "no hemos podido entregar su"'
    assert words("de") == '"opt out" OR "opted out" OR "unerwünschter" OR "unerwünschte"'
    assert words("en") == '"opt out" OR "opted out"'


def test_reasons_are_said_in_the_pages_language(site) -> None:
    """Why a message waits, in the page's language: "no order ID" in French and Japanese; a
    detail (the sender's domain) kept inside the translated sentence."""
    site.send(b"From: Pat <pat@example.org>\r\nSubject: lunch\r\n\r\nare you free on friday\r\n")
    fake = mail_notice("en", "171-0000000-0000001")
    site.send(wrap_inline(fake, header_block="From: Amazon <auto-communication@amazon-notices.example>\nDate: x"))
    with httpx.Client(timeout=30, headers={"Accept-Language": "fr"}) as client:
        french = html.unescape(client.get(site.link(), follow_redirects=True).text)
    assert "Gardé pour vérification : il ne contient aucun numéro de commande." in french, french[-3000:]
    assert "son expéditeur (amazon-notices.example) n'est pas Amazon" in french
    assert "no order ID" not in french
    with httpx.Client(timeout=30, headers={"Accept-Language": "ja"}) as client:
        japanese = html.unescape(client.get(site.link(), follow_redirects=True).text)
    assert "注文番号が含まれていません" in japanese


def test_a_mistyped_address_is_a_page_for_browsers_and_a_problem_for_programs(site) -> None:
    """404 to a browser (it accepts HTML): a page in its language; to an API client, the
    problem document; under /v1/ always the problem document."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "ja"}
    with httpx.Client(base_url=site.base, timeout=30) as client:
        page = client.get("/acount/acme", headers=browser)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "ページが見つかりません" in page.text and page.headers["content-language"] == "ja"
        program = client.get("/acount/acme", headers={"Accept": "application/json"})
        assert program.status_code == 404 and program.headers["content-type"] == "application/problem+json"
        api = client.get("/v1/nothing", headers=browser)
        assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


def test_a_wrong_key_is_refused_in_the_seller_language(site) -> None:
    from browser import csrf_of

    with httpx.Client(base_url=site.base, timeout=30) as client:
        form = client.get("/signin", headers={"Accept-Language": "es"})
        refused = client.post("/signin", data={"key": "oo_nothing", "csrf": csrf_of(form.text)},
                              headers={"Accept-Language": "es"})
        assert refused.status_code == 401
        assert "Esa clave no es válida" in refused.text and "<code>oo_</code>" in refused.text
