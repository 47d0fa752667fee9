"""Recognition everywhere: hand forwards from every client layout in every interface language
and charset (tests/layouts.py), each with a buyer's-message twin that must not count; Japanese
notices; the second English wording; name-only senders; look-alikes; unknown languages."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import layouts
import mail
from optout.recognise import forwards, parse

CASES = list(layouts.cases())


@pytest.mark.parametrize(("client", "lang", "charset", "raw", "is_notice"), CASES,
                         ids=[f"{c}-{lang}-{cs}-{'notice' if n else 'buyer'}" for c, lang, cs, _, n in CASES])
def test_every_client_language_and_charset(client: str, lang: str, charset: str, raw: bytes, is_notice: bool) -> None:
    """The forwarded notice is found with its order ID; the same wrapper around a buyer's message
    (from a marketplace relay alias, quoting the notice's words) lists no one."""
    result = parse(raw)
    if is_notice:
        assert (result.kind, result.order_id, result.how) == ("optout_notice", layouts.ORDER, "inline-forward"), result
    else:
        assert result.kind == "other", result


def test_html_variants_of_every_client() -> None:
    """Each client's block in an HTML-only part (bold labels, &nbsp;, <br>) is found too."""
    for client in layouts.CLIENTS:
        for lang in ("en", "cs", "ja", "zh"):
            result = parse(layouts.forward(client, lang, html=True))
            assert (result.kind, result.order_id) == ("optout_notice", layouts.ORDER), (client, lang, result)


_LETTERS = st.characters(whitelist_categories=("Lu", "Ll", "Lo"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(_LETTERS, min_size=1, max_size=12), min_size=4, max_size=4, unique_by=str.lower))
def test_labels_in_any_script_still_find_the_block(labels: list[str]) -> None:
    """A real block whose four labels are moved into random scripts (none of them words the
    catalogue knows) is still found by its shape, and its sender is the From line's."""
    assume(all(" ".join(label.lower().split()) not in forwards._ROLE_OF for label in labels))
    block = (f"{labels[0]}: Amazon Seller Central <seller-notification@amazon.com>\n{labels[1]}: {layouts.DATE}\n"
             f"{labels[2]}: {layouts.SELLER}\n{labels[3]}: Notice")
    result = parse(mail.wrap_inline(mail.body("en", layouts.ORDER), header_block=block))
    assert (result.kind, result.order_id) == ("optout_notice", layouts.ORDER)


def _direct(body: str, *, sender: str, subject: str, charset: str = "utf-8", cte: str = "base64") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Amazon <{sender}>"
    msg["To"] = mail.INGEST
    msg["Subject"] = subject
    msg.set_content(body, charset=charset, cte=cte)
    return msg.as_bytes(policy=SMTP)


JA_SUBJECT = "購入者へのメッセージを送信できませんでした"
JA_BODY = ("出品者様\n\n購入者が出品者からの未承諾広告メールを受信しないように設定しているため、注文 "
           "503-1234567-7654321に関するメッセージを送信できませんでした。\n\nAmazon.co.jp\n")


@pytest.mark.parametrize("charset", ["utf-8", "iso-2022-jp", "shift_jis", "euc-jp"])
def test_japanese_notice_in_each_charset(charset: str) -> None:
    """The Japanese notice from amazon.co.jp, in the charsets Japanese mail travels in."""
    cte = "7bit" if charset == "iso-2022-jp" else "base64"
    result = parse(_direct(JA_BODY, sender="auto-communication@amazon.co.jp", subject=JA_SUBJECT, charset=charset, cte=cte))
    assert (result.kind, result.order_id, result.language, result.marketplace) == (
        "optout_notice", "503-1234567-7654321", "ja", "amazon.co.jp")


def test_second_english_wording_from_auto_communication() -> None:
    """The 2017 wording with its "However, even if a buyer has opted out…" paragraph."""
    body = ("Dear Seller,\n\nYour message for order 111-2223334-4445556 could not be delivered because the buyer has "
            "chosen to opt out of receiving unsolicited messages from sellers. However, even if a buyer has opted out "
            "of unsolicited messages, if you need to send them a message critical to completing his or her order, "
            "you can do it using Buyer-Seller Messaging: Go to Manage Orders and select the order.\n")
    for tld in ("com", "ca", "co.jp"):
        result = parse(_direct(body, sender=f"auto-communication@amazon.{tld}", subject="Message delivery failure"))
        assert (result.kind, result.order_id) == ("optout_notice", "111-2223334-4445556"), tld


@pytest.mark.parametrize("body", [
    "This message was not sent as it did not meet the Buyer-Seller Messaging communication guidelines. Order 111-2223334-4445556.",
    "This message was not delivered because your account was temporarily restricted from sending proactive "
    "messages. Order: 111-2223334-4445556",
    "Order cancellation request from Amazon customer. Order ID: 111-2223334-4445556. Reason: no longer needed.",
    "This is a copy of your message to the buyer about order 111-2223334-4445556: Thank you for your order!",
])
def test_look_alikes_from_the_notice_sender_stay_other(body: str) -> None:
    """Other mail auto-communication@ sends (blocked for other reasons, cancellation requests,
    copies of sent messages) is `other`, and not a possible notice in an unknown language."""
    result = parse(_direct(body, sender="auto-communication@amazon.com", subject="Amazon"))
    assert result.kind == "other" and result.reason != "possible notice in an unknown language", result


def test_a_notice_in_an_unknown_language_is_kept_apart() -> None:
    """From a notice sender, one order ID, no known wording: its own reason, for the operator."""
    body = "Caro venditore,\n\nnon siamo riusciti a consegnare il tuo messaggio per l'ordine 404-1111111-2222222.\n"
    result = parse(_direct(body, sender="auto-communication@amazon.it", subject="Messaggio non consegnato"))
    assert (result.kind, result.reason) == ("other", "possible notice in an unknown language")


def test_name_only_sender_that_amazon_uses() -> None:
    """A block whose From gives only "Amazon Seller Central" (a known contact) is listed, and the
    reason says the sender was a name only; any other name stays in quarantine."""
    block = "From: Amazon Seller Central\nSent: Tuesday, March 3, 2026 9:14 AM\nTo: Sam Seller\nSubject: Notice"
    result = parse(mail.wrap_inline(mail.body("en", layouts.ORDER), header_block=block))
    assert (result.kind, result.order_id) == ("optout_notice", layouts.ORDER)
    assert "a name only" in result.reason
    stranger = parse(mail.wrap_inline(mail.body("en", layouts.ORDER), header_block=block.replace("Amazon Seller Central", "Pat Buyer")))
    assert stranger.kind == "other" and "Pat Buyer" in stranger.reason


def test_bare_cr_line_ends_and_typographic_text() -> None:
    """A message with bare CR line ends; curly apostrophes and non-breaking spaces in the text."""
    raw = mail.as_bytes(mail.notice("en", layouts.ORDER)).replace(b"\r\n", b"\r")
    assert parse(raw).order_id == layouts.ORDER
    fancy = mail.body("en", layouts.ORDER).replace("opt out", "opt\u00a0out").replace("'", "\u2019")
    msg = mail.notice("en", layouts.ORDER)
    msg.set_content(fancy)
    assert parse(mail.as_bytes(msg)).order_id == layouts.ORDER


def test_every_language_label_in_the_catalogue_names_its_role() -> None:
    """The catalogue (phrases.toml) knows the From label of every generated language but the
    invented one, so the role decides there and the shape only where nothing is known."""
    for code, lang in layouts.LANGUAGES.items():
        known = forwards._ROLE_OF.get(lang.frm.lower())
        assert known == ("from" if code != "xx" else None), code
