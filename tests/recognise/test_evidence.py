"""Recognition by evidence: a notice whose own text is intact is found behind forward layouts no
parser here models, and a text that only quotes the notice is never listed.

The layouts are generated here from the shapes sellers' clients produce (verb-less attributions,
header fields run together on one line, HTML whose labels and values sit in separate cells or
spans, entities for the angle brackets, quoting re-wrapped at 72 columns, a notice saved as a
.txt file), in several interface languages and charsets. Each has twins that must stay `other`:
a look-alike sender domain, a buyer's relayed message, a block for another reason.
"""

from __future__ import annotations

import textwrap
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mail
from optout.recognise import parse

ORDER = "402-7788990-1122334"
AMAZON = "auto-communication@amazon.de"
LOOKALIKE = "auto-communication@amazon-seller-notices.com"
RELAY = "x7k2mq9pl3vb8nd@marketplace.amazon.de"
OTHER_REASON = ("Dear Seller,\n\nThis message was not sent as it did not meet the Buyer-Seller Messaging "
                f"communication guidelines (order {ORDER}).\n")


def _forward(text: str, *, html: bool = False, charset: str = "utf-8", subject: str = "Fwd: notice") -> bytes:
    msg = EmailMessage()
    msg["From"] = mail.SELLER
    msg["To"] = mail.INGEST
    msg["Subject"] = subject
    msg.set_content(text, subtype="html" if html else "plain", charset=charset)
    return mail.as_bytes(msg)


# Each shape: (name, charset, html, a function of (sender, notice text) -> body).
SHAPES = [
    ("groupwise", "utf-8", False,
     lambda who, text: f'Bitte eintragen.\n\n>>> "Amazon Seller Central" <{who}> 2/21/2026 11:02 PM >>>\n{text}'),
    ("yandex-ru", "koi8-r", False,
     lambda who, text: f'Пересылаю.\n\n05.05.2026, 14:06, "Amazon Services" <{who}>:\n{text}'),
    ("mailru-utf8", "utf-8", False,
     lambda who, text: f'-------- Пересылаемое сообщение --------\n05.05.2026, 14:06, "Amazon" <{who}>:\n\n{text}'),
    ("gmail-ja", "iso-2022-jp", False,
     lambda who, text: f"転送します。\n\n2026年5月13日(水) 10:10 Amazon Seller Central <{who}>:\n\n{text}"),
    ("yahoo-run-together-de", "utf-8", False,
     lambda who, text: f"----- Weitergeleitete Nachricht -----\nVon: Amazon <{who}>An: sam@seller-shop.example; "
                       f"ops@seller-shop.example; lager@seller-shop.example Gesendet: Mittwoch, 13. Mai 2026, "
                       f"10:10:00 MESZBetreff: Ihre Nachricht\n\n{text}"),
    ("yahoo-run-together-it", "iso-8859-1", False,
     lambda who, text: f"Da: Amazon <{who}>A: sam@seller-shop.exampleCc: a@b.example; c@d.exampleInviato: "
                       f"mercoledì 13 maggio 2026 10:10Oggetto: Il tuo messaggio\n\n{text}"),
    ("qq-html-entities", "gb18030", True,
     lambda who, text: f'<div>------------------&nbsp;原始邮件&nbsp;------------------</div><div><b>发件人:</b>'
                       f'&nbsp;"Amazon Services Europe"&lt;{who}&gt;;</div><div><b>发送时间:</b>&nbsp;2026年5月13日'
                       f'(星期三) 上午10:10</div><div><b>收件人:</b>&nbsp;"sam"&lt;sam@seller-shop.example&gt;;</div>'
                       f'<div><br></div><div>{_html(text)}</div>'),
    ("outlook-print-table", "windows-1252", True,
     lambda who, text: f'<p>see below</p><table><tr><td><b>From:</b></td><td>Amazon Seller Central &lt;{who}&gt;'
                       f'</td></tr><tr><td><b>Sent:</b></td><td>Wednesday, May 13, 2026 10:10 AM</td></tr><tr><td>'
                       f'<b>To:</b></td><td>sam@seller-shop.example</td></tr><tr><td><b>Subject:</b></td><td>Your '
                       f'message</td></tr></table><p>{_html(text)}</p>'),
    ("apple-html-it", "utf-8", True,
     lambda who, text: f'<div>Inizio messaggio inoltrato:</div><blockquote><div><span><b>Da: </b></span><span>'
                       f'Amazon &lt;{who}&gt;</span></div><div><span><b>Oggetto: </b></span><span>Messaggio</span>'
                       f'</div><div><span><b>A: </b></span><span>sam@seller-shop.example</span></div><br>'
                       f'<div>{_html(text)}</div></blockquote>'),
    ("banner-html-mailto", "utf-8", True,
     lambda who, text: f'<p style="color:red">[EXTERNAL] This message came from outside your organisation.</p>'
                       f'<p>&ldquo;Amazon Seller Central&rdquo; <a href="mailto:{who}">{who}</a> schrieb:</p>'
                       f'<p>{_html(text)}</p>'),
]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


@pytest.mark.parametrize("lang", ["en", "fr", "de"])
@pytest.mark.parametrize(("name", "charset", "html", "layout"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_notice_behind_an_unmodelled_layout_is_found(name, charset, html, layout, lang) -> None:
    """Each shape, in each notice language: listed with its order ID and the Amazon sender."""
    text = mail.body(lang, ORDER)
    result = parse(_forward(layout(AMAZON, text), html=html, charset=_charset(charset, lang)))
    assert result.kind == "optout_notice", result.reason
    assert result.order_id == ORDER and result.sender == AMAZON


@pytest.mark.parametrize(("name", "charset", "html", "layout"), SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("twin", ["lookalike", "relay", "other-reason"])
def test_the_same_layouts_twins_stay_other(name, charset, html, layout, twin) -> None:
    """The same layout from a look-alike domain, a buyer's relay, or blocking for another reason:
    never a notice."""
    sender = {"lookalike": LOOKALIKE, "relay": RELAY, "other-reason": AMAZON}[twin]
    text = OTHER_REASON if twin == "other-reason" else mail.body("en", ORDER)
    result = parse(_forward(layout(sender, text), html=html, charset=_charset(charset, "en")))
    assert result.kind == "other", (twin, result.reason)


def _charset(charset: str, lang: str) -> str:
    """The layout's charset where it can carry the notice's language, else UTF-8."""
    text = mail.body(lang, ORDER)
    try:
        text.encode(charset)
        return charset
    except UnicodeEncodeError:
        return "utf-8"


def test_a_french_notice_rewrapped_inside_quoting_is_found() -> None:
    """Re-wrapped at 72 columns inside `> ` quoting, the wording broken across lines."""
    quoted = "\n".join("> " + line for line in textwrap.wrap(mail.body("fr", ORDER).replace("\n", " "), 70))
    body = f"Le 13 mai 2026 à 10:10, Amazon <{AMAZON}> a écrit :\n{quoted}\n"
    result = parse(_forward(body, charset="iso-8859-1"))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason


def test_a_notice_only_in_a_txt_attachment_is_found() -> None:
    """A notice saved as a text file and attached, the mail's own body saying nothing."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "notice attached"
    msg.set_content("See the attached file.")
    saved = f"From: Amazon Seller Central <{AMAZON}>\nDate: 13.05.2026 10:10\n\n{mail.body('de', ORDER)}"
    msg.add_attachment(saved.encode("utf-8"), maintype="text", subtype="plain", filename="notice.txt")
    result = parse(mail.as_bytes(msg))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason


def test_the_german_variant_wording_is_recognised() -> None:
    """"…da sich der Käufer gegen den Erhalt unerwünschter Nachrichten von Verkäufern entschieden
    hat", as a seller reported it, direct from Amazon."""
    msg = mail.notice("de", ORDER)
    msg.set_content(f"Sehr geehrter Verkäufer,\n\nwir konnten Ihre Nachricht zur Bestellung {ORDER} nicht "
                    "zustellen, da sich der Käufer gegen den Erhalt unerwünschter Nachrichten von Verkäufern "
                    "entschieden hat.\n")
    result = parse(mail.as_bytes(msg))
    assert result.kind == "optout_notice" and result.language == "de", result.reason


def _newsletter(body: str, *, unsubscribe: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Amazon Seller Central <auto-communication@amazon.com>"
    msg["To"] = mail.INGEST
    msg["Subject"] = "Policy update: buyer opt-out of unsolicited messages"
    if unsubscribe:
        msg["List-Unsubscribe"] = "<https://sellercentral.amazon.com/unsubscribe>"
    msg.set_content(body)
    return mail.as_bytes(msg)


POLICY = ("Dear Seller,\n\nBuyers can opt out of unsolicited messages. We are updating how this works.\n\n"
          + "This policy paragraph explains the rules around Buyer-Seller Messaging in some detail. " * 6 + "\n\n")
NEWSLETTERS = {
    "placeholder": POLICY + mail.WORDING["en"].format(order="123-1234567-1234567"),
    "ones": POLICY + mail.WORDING["en"].format(order="111-1111111-1111111"),
    "for-example": POLICY + "For example, you may receive: We were unable to deliver the message you sent for "
                   "order 113-2233445-5667788 because the buyer has chosen to opt out of receiving unsolicited "
                   "messages from sellers.",
    "quoted": POLICY + 'You will then see "We were unable to deliver the message you sent for order '
              '113-2233445-5667788 because the buyer has chosen to opt out of receiving unsolicited messages '
              'from sellers."',
    "zum-beispiel": POLICY + "Zum Beispiel: wir konnten Ihre Nachricht zur Bestellung 303-2233445-5667788 nicht "
                    "zustellen, weil der Käufer die Annahme unerwünschter Nachrichten von Verkäufern deaktiviert hat.",
    "realistic-list-unsubscribe": POLICY + mail.WORDING["en"].format(order="113-2233445-5667788"),
}


@pytest.mark.parametrize("name", sorted(NEWSLETTERS))
def test_newsletters_quoting_the_notice_are_not_listed(name) -> None:
    """Amazon's own policy mail quoting the notice, with a placeholder or realistic ID, framed as
    an example, in quotation marks, or simply sent as a mailing (List-Unsubscribe): `other`."""
    result = parse(_newsletter(NEWSLETTERS[name]))
    assert result.kind == "other", result.reason


@pytest.mark.parametrize("name", ["placeholder", "for-example", "quoted"])
def test_a_forwarded_newsletter_is_not_listed_either(name) -> None:
    """A seller forwards such a newsletter by hand: no List-Unsubscribe to see, the text decides."""
    body = f"From: Amazon Seller Central <auto-communication@amazon.com>\nSubject: Policy\n\n{NEWSLETTERS[name]}"
    result = parse(_forward(body))
    assert result.kind == "other", result.reason


def test_a_notice_with_two_different_order_ids_is_kept_for_review() -> None:
    """Decided: a notice names one order. With two different IDs in its text, listing both could
    list a buyer who never opted out and listing one is a guess, so it is kept, saying why."""
    msg = mail.notice("en", ORDER)
    msg.set_content(mail.body("en", ORDER) + "\nYour earlier message for order 402-1111222-3334445 was delivered.\n")
    result = parse(mail.as_bytes(msg))
    assert result.kind == "other" and "two different order IDs" in result.reason


def test_the_real_notice_layout_still_lists_when_the_id_repeats() -> None:
    """The same order ID twice (sentence and subject) is one order: listed."""
    msg = mail.notice("en", ORDER)
    msg.replace_header("Subject", f"Your message for order {ORDER} could not be delivered")
    assert parse(mail.as_bytes(msg)).order_id == ORDER


# --- any attribution or run-together block, rendered at random ---------------------------------

NAMES = st.sampled_from(["Amazon", "Amazon Seller Central", "Amazon Services Europe", "亚马逊", "Amazon.de"])
DATES = st.sampled_from(["2/21/2026 11:02 PM", "05.05.2026, 14:06", "2026-05-13 10:10", "13 May 2026 at 10:10",
                         "2026年5月13日(水) 10:10", "mer. 13 mai 2026 à 10:10", ""])
QUOTING = st.sampled_from(['"{n}" <{a}>', "{n} <{a}>", "<{a}>", "{a}", '"{n}"&lt;{a}&gt;;', "{n} [mailto:{a}]"])
BRACKETED = st.sampled_from(['"{n}" <{a}>', "{n} <{a}>", "{n}<{a}>"])
ENDINGS = st.sampled_from([":", " >>>", " wrote:", " escribió:", "", ",", " 写道："])
LABELS = st.sampled_from(["From", "Von", "De", "Da", "Od", "发件人", "Lähettäjä", "Xyzzy"])
RECIPIENT_LABELS = st.sampled_from(["To", "An", "À", "A", "收件人", "Cc"])


@st.composite
def attribution(draw: st.DrawFn, sender: str) -> str:
    """An attribution line: date, name and address in some order, some quoting, some ending."""
    who = draw(QUOTING).format(n=draw(NAMES), a=sender)
    date = draw(DATES)
    parts = [date, who] if draw(st.booleans()) else [who, date]
    lead = draw(st.sampled_from(["", ">>> ", "On ", "Am ", "在 "]))
    return lead + " ".join(p for p in parts if p) + draw(ENDINGS)


@st.composite
def run_together(draw: st.DrawFn, sender: str) -> str:
    """Header fields on one line, no separators, the sender's field anywhere but after the text."""
    # as Yahoo writes it: the sender's field is "Name <address>", so the next label can follow at once
    fields = [f"{draw(LABELS)}: {draw(BRACKETED).format(n=draw(NAMES), a=sender)}",
              f"{draw(RECIPIENT_LABELS)}: sam@seller-shop.example; ops@seller-shop.example",
              f"Sent: {draw(DATES)}", "Subject: Your message"]
    order = draw(st.permutations(fields))
    return draw(st.sampled_from(["", " ", "  "])).join(order)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), lang=st.sampled_from(["en", "fr", "de"]), html=st.booleans())
def test_any_rendered_attribution_or_block_finds_the_notice(data, lang, html) -> None:
    """A real notice behind a randomly rendered attribution or run-together block is always
    found, with its order ID, in plain text and in HTML."""
    block = data.draw(st.one_of(attribution(AMAZON), run_together(AMAZON)))
    text = mail.body(lang, ORDER)
    body = f"FYI\n\n{block}\n\n{text}" if not html else f"<p>FYI</p><p>{_html(block)}</p><p>{_html(text)}</p>"
    result = parse(_forward(body, html=html))
    assert result.kind == "optout_notice" and result.order_id == ORDER, (block, result.reason)


@pytest.mark.parametrize("html", [False, True])
def test_the_first_of_a_recipient_list_is_no_sender(html) -> None:
    """Found by the property above: a run-together block whose one-letter recipient label is glued
    to the subject ("Your messageÀ:") names no recipient by its label, but its first address is
    followed by "; " and another: a list, and only recipients come in lists."""
    block = ('From: "Amazon" <auto-communication@amazon.de>Sent: Subject: Your messageÀ: '
             "sam@seller-shop.example; ops@seller-shop.example")
    text = mail.body("fr", ORDER)
    body = f"FYI\n\n{block}\n\n{text}" if not html else f"<p>FYI</p><p>{_html(block)}</p><p>{_html(text)}</p>"
    result = parse(_forward(body, html=html))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason


@settings(max_examples=200, deadline=None)
@given(data=st.data(), sender=st.sampled_from([LOOKALIKE, RELAY, "seller-news@amazon-mail.net"]))
def test_any_rendered_block_from_a_non_notice_sender_stays_other(data, sender) -> None:
    """The same random blocks naming a look-alike, a buyer's relay or another sender: `other`."""
    block = data.draw(st.one_of(attribution(sender), run_together(sender)))
    result = parse(_forward(f"FYI\n\n{block}\n\n{mail.body('en', ORDER)}"))
    assert result.kind == "other", (block, result.reason)
