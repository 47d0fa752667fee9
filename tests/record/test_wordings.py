"""Wordings taught at run time, against a real `optout serve` on SQLite and PostgreSQL: possible
notices in Spanish, Italian and Chinese from three accounts form one group per wording; the
operator teaches them from the CLI and from the overview in a real browser; every waiting
message is listed, and a new one is listed on arrival by a second listener sharing the database.

The Spanish, Italian and Chinese wordings below are INVENTED for these tests, in the shape
Amazon's notice takes in the languages whose wording is known (the real ones are not public).
"""

from __future__ import annotations

import json
import smtplib
from datetime import datetime
from email.message import EmailMessage

import pytest

import mail
from browser import accessible, shot
from optout.recognise import notice, parse, wordings
from waiting import until
from web import mint, start_serve, stop_serve

INVENTED = {  # (sender, subject, sentence with {order}); invented, see above
    "es": ("auto-communication@amazon.es", "Tu mensaje a un comprador no se ha podido entregar",
           "No hemos podido entregar el mensaje que enviaste sobre el pedido {order} porque el comprador ha "
           "decidido no recibir mensajes no solicitados de los vendedores."),
    "it": ("donotreply@amazon.it", "Il tuo messaggio a un acquirente non è stato recapitato",
           "Non siamo riusciti a recapitare il messaggio che hai inviato per l'ordine {order} perché "
           "l'acquirente ha scelto di non ricevere messaggi non richiesti dai venditori."),
    "zh": ("auto-communication@amazon.cn", "您发送给买家的消息无法送达",
           "由于买家已选择不接收卖家的未经请求的消息，我们无法送达您针对订单 {order} 发送的消息。"),
}
GREETING = {"es": "Estimado/a {name}:", "it": "Gentile {name},", "zh": "尊敬的{name}："}
ACCOUNTS = ("acme", "bravo", "carlo")


def invented(lang: str, order: str, *, name: str = "Vendedor", sender: str | None = None, extra: str = "") -> bytes:
    who, subject, sentence = INVENTED[lang]
    msg = EmailMessage()
    msg["From"] = f"Amazon <{sender or who}>"
    msg["To"] = mail.INGEST
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{lang}-{order}@amazon.example>"
    msg.set_content(f"{GREETING[lang].format(name=name)}\n\n{sentence.format(order=order)}{extra}\n\nAmazon\n")
    return mail.as_bytes(msg)


def order(lang: str, n: int) -> str:
    return f"{ {'es': 401, 'it': 402, 'zh': 403}[lang]}-{n:07d}-1234567"


def _send(cli, smtp_port: int, raw: bytes, slug: str) -> None:  # noqa: ANN001
    address = json.loads(cli("accounts", "show", slug, "--json").stdout)["address"]
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        smtp.sendmail("amazon@example.net", [address], raw)


def _groups(cli) -> dict[str, dict]:  # noqa: ANN001
    result = cli("quarantine", "groups", "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    return {g["marketplaces"][0].split(".")[-1]: g for g in found}  # es, it, cn


@pytest.fixture
def waiting(cli, serve):  # noqa: ANN001, ANN201
    """Three invented notices per language, one from each of three accounts, waiting in quarantine."""
    for slug in ACCOUNTS[1:]:
        assert cli("accounts", "add", slug).exit_code == 0
    for lang in INVENTED:
        for n, slug in enumerate(ACCOUNTS):
            _send(cli, serve.smtp_port, invented(lang, order(lang, n), name=f"Seller {n}"), slug)
    return serve


def test_possible_notices_group_by_wording_and_are_taught_from_the_cli(cli, waiting, tmp_path) -> None:
    """One group per language, whatever the order, name or account; teaching Spanish and
    Chinese lists every waiting message, and a new one is listed at arrival by this listener and
    by a second one sharing the database; stats count by wording."""
    groups = _groups(cli)
    assert sorted(groups) == ["cn", "es", "it"]
    assert all(g["messages"] == 3 and g["accounts"] == 3 for g in groups.values())
    assert "###" in groups["es"]["wording"] and "seller 0" not in groups["es"]["wording"]
    for lang, key in (("es", "es"), ("zh", "cn")):
        taught = cli("wordings", "learn", groups[key]["group"], "--language", lang, "--yes", "--json")
        assert taught.exit_code == 0, taught.output
        assert json.loads(taught.stdout.splitlines()[-1])["recognised_again"] == {"listed": 3}
        assert all(r["listed"] for r in cli.checks(*(order(lang, n) for n in range(3))))
    assert sorted(_groups(cli)) == ["it"]
    _send(cli, waiting.smtp_port, invented("es", order("es", 7), name="Otra"), "bravo")
    until(lambda: cli("check", order("es", 7)).exit_code == 0, what="a new Spanish notice listed at arrival")
    (tmp_path / "second").mkdir()
    second, proc = start_serve(tmp_path / "second")
    try:
        _send(cli, second.smtp_port, invented("zh", order("zh", 8)), "carlo")
        assert cli("check", order("zh", 8)).exit_code == 0  # the 250 came after the commit
    finally:
        stop_serve(proc)
    stats = json.loads(cli("stats", "--json").stdout)
    assert stats["wording_groups_waiting"] == 1
    assert sum(n for w, n in stats["notices_by_wording"].items() if w.startswith("taught:")) == 8


def test_a_wording_taught_by_a_second_listener_is_used_within_seconds(cli, serve, tmp_path) -> None:
    """A listener already running picks up a wording taught elsewhere (here: the CLI) within
    seconds, without a restart."""
    _send(cli, serve.smtp_port, invented("it", order("it", 1)), "acme")
    key = _groups(cli)["it"]["group"]
    assert cli("wordings", "learn", key, "--language", "it", "--yes").exit_code == 0

    def listed_on_arrival() -> bool:
        n = listed_on_arrival.tries = getattr(listed_on_arrival, "tries", 1) + 1
        _send(cli, serve.smtp_port, invented("it", order("it", 100 + n)), "acme")
        return cli("check", order("it", 100 + n)).exit_code == 0

    until(listed_on_arrival, what="the running listener to use the taught wording")


def test_a_taught_lookalike_keeps_later_copies_out(cli, waiting) -> None:
    """"This is something else": the group leaves the quarantine (rejected, with the reason) and
    later copies stay `other`, saying why."""
    key = _groups(cli)["it"]["group"]
    taught = cli("wordings", "learn", key, "--language", "it", "--kind", "lookalike", "--yes", "--json")
    assert json.loads(taught.stdout.splitlines()[-1])["recognised_again"] == {"rejected": 3}
    _send(cli, waiting.smtp_port, invented("it", order("it", 9)), "acme")
    listed = json.loads(cli("quarantine", "list", "--json").stdout.splitlines()[0])
    assert "look-alike the operator taught" in listed["reason"]
    assert "it" not in _groups(cli) and cli("check", order("it", 9)).exit_code == 1


def test_a_taught_wording_needs_an_amazon_notice_sender_and_one_order_id() -> None:
    """Recognition with a taught wording: listed from Amazon's notice address with one order ID;
    not from another sender (a look-alike domain, a buyer's relay, Amazon's other addresses), nor
    with two different order IDs."""
    sentence = notice.group_of(INVENTED["es"][2].format(order=order("es", 1)))
    assert sentence and "###" in sentence
    wordings.use((wordings.Taught(1, "es", "notice", sentence),))
    try:
        assert parse(invented("es", order("es", 1))).kind == "optout_notice"
        for sender in ("auto-communication@amazon-es.com", "x7k2mq9pl3vb8nd@marketplace.amazon.es",
                       "seller-news@amazon.es"):
            assert parse(invented("es", order("es", 1), sender=sender)).kind == "other", sender
        two = invented("es", order("es", 1), extra=f" Véase también el pedido {order('es', 2)}.")
        assert "2 different order IDs" in parse(two).reason
    finally:
        wordings.use(())


def test_forget_stops_new_matches_and_keeps_what_was_listed(cli, waiting) -> None:
    """After `wordings forget`, new mail waits as a possible notice again; what the wording
    listed stays listed (and the command says so)."""
    key = _groups(cli)["es"]["group"]
    assert cli("wordings", "learn", key, "--language", "es", "--yes").exit_code == 0
    wording_id = json.loads(cli("wordings", "list", "--json").stdout.splitlines()[0])["id"]
    forgot = cli("wordings", "forget", str(wording_id))
    assert forgot.exit_code == 0 and "stay as they are" in forgot.stdout
    _send(cli, waiting.smtp_port, invented("es", order("es", 5)), "acme")
    assert cli("check", order("es", 5)).exit_code == 1 and cli("check", order("es", 0)).exit_code == 0
    assert _groups(cli)["es"]["messages"] == 1
    assert cli("wordings", "forget", str(wording_id)).exit_code == 2  # once only, one line


def test_export_and_import_round_trip(cli, waiting, tmp_path, monkeypatch) -> None:
    """`wordings export` writes the built-in and the taught wordings as TOML; `wordings import`
    on another installation teaches the taught ones (and again changes nothing)."""
    key = _groups(cli)["es"]["group"]
    assert cli("wordings", "learn", key, "--language", "es", "--yes").exit_code == 0
    out = tmp_path / "wordings.toml"
    assert cli("wordings", "export", "--output", str(out)).exit_code == 0
    text = out.read_text()
    assert "[languages.en]" in text and "[[taught]]" in text and 'language = "es"' in text
    monkeypatch.setenv("OPTOUT_DATA_DIR", str(tmp_path / "other"))
    monkeypatch.delenv("OPTOUT_DATABASE_URL", raising=False)
    assert cli("db", "upgrade").exit_code == 0
    assert json.loads(cli("wordings", "import", str(out), "--json").stdout)["added"] == 1
    assert json.loads(cli("wordings", "import", str(out), "--json").stdout)["added"] == 0
    assert json.loads(cli("wordings", "list", "--json").stdout.splitlines()[0])["sentence"] == _groups_sentence(text)


def _groups_sentence(toml_text: str) -> str:
    import tomllib

    return tomllib.loads(toml_text)["taught"][0]["sentence"]


@pytest.mark.parametrize(("sentence", "why"), [("sin ranura para el pedido, nada más que texto largo aquí", "slot"),
                                              ("###", "shorter"),
                                              ("cancellation request for order ### from the buyer today", "look-alike")])
def test_unsafe_wordings_are_refused_in_one_line(cli, tmp_path, sentence, why) -> None:
    """A wording with no order-ID slot, one too short, or one holding a known look-alike's words
    is refused with a one-line reason and exit 2."""
    path = tmp_path / "bad.toml"
    path.write_text(f'[[taught]]\nlanguage = "es"\nkind = "notice"\nsentence = "{sentence}"\n')
    result = cli("wordings", "import", str(path))
    assert result.exit_code == 2 and why in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("language", ["Portuguese", "xx", "pt_BR", "portugu\u00eas"])
def test_a_language_that_is_no_iso_code_is_refused_in_one_line(cli, waiting, language) -> None:
    """`--language Portuguese` (a name, not a code) and codes ISO 639-1 lacks: one line, exit 2,
    nothing taught; the code's name is said when it is one."""
    key = _groups(cli)["es"]["group"]
    result = cli("wordings", "learn", key, "--language", language, "--yes")
    assert result.exit_code == 2 and "ISO 639-1" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(cli("stats", "--json").stdout)["wording_groups_waiting"] == 3
    taught = cli("wordings", "learn", key, "--language", "ES", "--yes", "--json")
    assert json.loads(taught.stdout.splitlines()[-1])["language_name"] == "Spanish"


def test_entries_listed_by_teaching_are_dated_when_their_notice_arrived(cli, waiting) -> None:
    """A notice that waited in quarantine and is listed when its wording is taught: its entry's
    first_seen is when the notice arrived, not when the wording was taught."""
    from sqlalchemy import text

    from optout.config import load_settings
    from optout.store import db

    eng = db.writer(load_settings())
    try:
        with eng.begin() as conn:  # the Spanish notices arrived on 2 January
            conn.execute(text("UPDATE message SET received_at = :at WHERE outcome = 'quarantined'"),
                         {"at": datetime(2026, 1, 2, 8, 30)})
    finally:
        eng.dispose()
    assert cli("wordings", "learn", _groups(cli)["es"]["group"], "--language", "es", "--yes").exit_code == 0
    assert {r["first_seen"] for r in cli.checks(*(order("es", n) for n in range(3)))} == {"2026-01-02T08:30:00Z"}


def test_groups_and_show_say_what_a_person_needs(cli, waiting) -> None:
    """`quarantine groups` names its newest message as the command that shows it and says how
    to teach the group; `quarantine show` of a possible notice gives the order ID its text names,
    its sender and subject."""
    listing = cli("quarantine", "groups").stdout
    sample = _groups(cli)["es"]["sample"]
    assert f"its newest message: optout quarantine show {sample}" in listing
    assert "teach it: optout wordings learn" in listing and "sample " not in listing
    shown = json.loads(cli("quarantine", "show", str(sample), "--json").stdout)
    assert shown["order_id"] is None and shown["order_id_in_text"] == order("es", 2)
    assert shown["sender"].endswith("<auto-communication@amazon.es>") and shown["subject"]


def test_accepting_what_is_not_a_notice_says_the_ways_forward(cli, waiting) -> None:
    """`quarantine accept` of a possible notice: refused, naming teach, add by hand and reject."""
    message_id = _groups(cli)["es"]["sample"]
    result = cli("quarantine", "accept", str(message_id))
    assert result.exit_code == 2
    for way in ("optout wordings learn", "optout add", "optout quarantine reject"):
        assert way in result.stderr


def test_taught_from_the_overview_in_the_browser(cli, waiting, site, browser) -> None:
    """The operator sees the Italian group on the overview, says "This is an opt-out notice"
    (Italian), checks the wording shown, saves it: the three waiting messages are listed."""
    browser.goto(site.base + "/signin")
    browser.get_by_label("API key").fill(mint(cli, "admin"))
    browser.get_by_role("button", name="Sign in").click()
    group = browser.locator("article.group", has_text="amazon.it")
    assert "3 messages" in group.inner_text() and "###" in group.inner_text()
    accessible(browser)
    shot(browser, "overview-wording-groups")
    group.get_by_label("Its language").select_option("it")  # a picker of ISO 639-1 codes by name
    group.get_by_role("button", name="This is an opt-out notice").click()
    assert "Check the wording" in browser.title() or "Check the wording" in browser.content()
    assert "Italian" in browser.locator("main").inner_text()
    assert "###" in browser.locator(".wording").inner_text()
    accessible(browser)
    shot(browser, "overview-teach-preview")
    browser.get_by_role("button", name="Save this wording").click()
    assert "3 listed" in browser.get_by_role("status").inner_text()
    assert all(r["listed"] for r in cli.checks(*(order("it", n) for n in range(3))))
    assert browser.locator("article.group", has_text="amazon.it").count() == 0
    # the overview lists what was taught, and forgets it on a word
    taught = browser.locator("#taught-h ~ ul li")
    assert taught.count() == 1 and "Italian (it), opt-out notice" in taught.inner_text()
    taught.get_by_role("button", name="Forget wording").click()
    assert "Forgotten" in browser.get_by_role("status").inner_text() and browser.locator("#taught-h ~ ul li").count() == 0
    assert json.loads(cli("wordings", "list", "--json").stdout or "null") is None
    # a message that is no notice at all is dismissed from the overview
    site.send(b"From: Pat <pat@example.org>\r\nSubject: lunch?\r\n\r\nare you free on friday\r\n")
    browser.goto(site.base + "/admin")
    review = browser.locator("#reasons-h ~ ul.held li", has_text="no order ID")
    assert review.count() == 1
    review.get_by_role("button", name="Dismiss message").click()
    assert "Rejected" in browser.get_by_role("status").inner_text()
    assert browser.locator("#reasons-h ~ ul.held li", has_text="no order ID").count() == 0
