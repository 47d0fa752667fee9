"""Every notice a mail carries: batches of attached notices (message/rfc822 and .eml files as
octet-stream), notices pasted one after another, forwards of forwards, and mixes with things that
are not notices. Each batch has twins that must list nothing.

Mails are built here from the shapes clients produce; the order IDs and counts are drawn, so no
rule can lean on one layout."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mail
from batches import AMAZON, LOOKALIKE, batch, buyer_message, notice, order, text_of
from optout.recognise import parse


def listed(raw: bytes) -> list[str]:
    return sorted(n.order_id for n in parse(raw).notices() if n.order_id)


@pytest.mark.parametrize("lang", ["en", "fr", "de", "ja"])
@pytest.mark.parametrize("count", [2, 7, 20])
def test_every_attached_notice_is_listed(lang, count) -> None:
    """2, 7 and 20 notices attached as messages, in each language: each listed, each with its part."""
    result = parse(batch([notice(lang, n) for n in range(count)]))
    assert listed(mail.as_bytes(notice(lang, 0))) == [order(0)]
    assert [n.order_id for n in result.notices()] == [order(n) for n in range(count)]
    assert [n.part for n in result.notices()] == [f"attachment {n + 1}" for n in range(count)]
    assert {n.how for n in result.notices()} == {"attachment"}


def test_eml_files_sent_as_octet_stream_are_read() -> None:
    """Clients that attach .eml files as application/octet-stream: each notice found."""
    raw = batch([mail.as_bytes(notice(lang, n)) for n, lang in enumerate(["en", "fr", "de", "ja"])])
    assert listed(raw) == sorted(order(n) for n in range(4))


def test_a_mix_lists_the_notices_and_nothing_else() -> None:
    """Notices among a buyer's relayed message, an invoice PDF, a note and a look-alike: exactly
    the genuine notices, and one part that is no notice never makes the mail "other"."""
    raw = batch([buyer_message(90), notice("en", 1), ("invoice.pdf", b"%PDF-1.4 not a notice"),
                 notice("de", 2, sender=LOOKALIKE), mail.as_bytes(notice("fr", 3)),
                 ("note.txt", "Please list these two.".encode())])
    assert listed(raw) == sorted([order(1), order(3)])


@pytest.mark.parametrize("twin", ["lookalike", "relays", "other-reason"])
def test_twin_batches_list_nothing(twin) -> None:
    """The same batch shapes with nothing genuine in them: `other`."""
    if twin == "lookalike":
        parts: list = [notice("en", n, sender=LOOKALIKE) for n in range(5)]
    elif twin == "relays":
        parts = [buyer_message(n) for n in range(5)]
    else:
        parts = []
        for n in range(5):
            blocked = notice("en", n)
            blocked.set_content(f"Dear Seller,\n\nThis message was not sent as it did not meet the Buyer-Seller "
                                f"Messaging communication guidelines (order {order(n)}).\n")
            parts.append(blocked)
    result = parse(batch(parts))
    assert result.kind == "other" and result.notices() == [], result.reason


GMAIL_BLOCK = "---------- Forwarded message ---------\nFrom: Amazon <{a}>\nDate: Tue, 3 Mar 2026 at 09:14\n" \
              "Subject: Your message to a buyer could not be delivered\nTo: <sam@seller-shop.example>\n\n"
OUTLOOK_BLOCK = "________________________________\nFrom: Amazon Seller Central <{a}>\nSent: Tuesday, March 3, " \
                "2026 9:14 AM\nTo: Sam <sam@seller-shop.example>\nSubject: Your message\n\n"
GROUPWISE = '>>> "Amazon Seller Central" <{a}> 3/3/2026 9:14 AM >>>\n'
LAYOUTS = {"gmail": GMAIL_BLOCK, "outlook": OUTLOOK_BLOCK, "groupwise": GROUPWISE}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("lang", ["en", "fr", "de", "ja"])
def test_notices_pasted_one_after_another_are_each_listed(layout, lang) -> None:
    """Several forwarded notices pasted in one mail, each below its own block: all of them."""
    body = "These came in today.\n\n" + "\n".join(
        LAYOUTS[layout].format(a=AMAZON[lang]) + text_of(lang, n) for n in range(6))
    assert listed(_plain(body)) == sorted(order(n) for n in range(6))
    twin = body.replace(AMAZON[lang], LOOKALIKE)
    assert parse(_plain(twin)).kind == "other"


def test_pasted_notices_keep_each_its_own_buyer() -> None:
    """A buyer's alias shown under one pasted notice belongs to that notice alone."""
    alias = "k3v9xq2mz7p4w1r@marketplace.amazon.com"
    body = "\n".join(GROUPWISE.format(a=AMAZON["en"]) + mail.body("en", order(n), buyer=alias if n == 1 else None)
                     for n in range(3))
    found = {n.order_id: n.buyer_email for n in parse(_plain(body)).notices()}
    assert found == {order(0): None, order(1): alias, order(2): None}


def test_a_forward_of_a_forward_with_one_notice_inline_and_one_attached() -> None:
    """A colleague's forward quoting one notice, forwarded again with another attached: both."""
    inline = ("---------- Forwarded message ---------\nFrom: Col League <col@seller-shop.example>\n"
              "Date: Tue, 3 Mar 2026\nSubject: Fwd: notice\nTo: <sam@seller-shop.example>\n\n\n"
              + GMAIL_BLOCK.format(a=AMAZON["de"]) + text_of("de", 1))
    raw = batch([notice("fr", 2)], note=inline)
    assert listed(raw) == sorted([order(1), order(2)])


def test_the_same_notice_twice_in_a_mail_is_one() -> None:
    """An attached original and its inline copy are one notice, not two."""
    raw = batch([notice("en", 5)], note=GMAIL_BLOCK.format(a=AMAZON["en"]) + text_of("en", 5))
    assert parse(raw).notices()[0].order_id == order(5) and len(parse(raw).notices()) == 1


def _plain(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "Fwd: notices"
    msg.set_content(body)
    return mail.as_bytes(msg)


KINDS = st.sampled_from(["notice-en", "notice-fr", "notice-de", "notice-ja", "eml", "relay", "lookalike", "pdf",
                         "note", "other-reason"])


@settings(max_examples=120, deadline=None)
@given(kinds=st.lists(KINDS, min_size=1, max_size=12))
def test_any_mix_and_order_lists_exactly_the_notices(kinds) -> None:
    """Any mix and order of notices and things that are not notices in a multipart lists exactly
    the genuine notices, whatever stands before or after them."""
    parts: list = []
    genuine = []
    for n, kind in enumerate(kinds):
        if kind.startswith("notice-"):
            parts.append(notice(kind[-2:], n))
            genuine.append(order(n))
        elif kind == "eml":
            parts.append(mail.as_bytes(notice("en", n)))
            genuine.append(order(n))
        elif kind == "relay":
            parts.append(buyer_message(n))
        elif kind == "lookalike":
            parts.append(notice("en", n, sender=LOOKALIKE))
        elif kind == "pdf":
            parts.append(("invoice.pdf", b"%PDF-1.4 " + order(n).encode()))
        elif kind == "note":
            parts.append(("note.txt", f"Re order {order(n)}: call the buyer.".encode()))
        else:
            blocked = notice("en", n)
            blocked.set_content(f"Dear Seller,\n\nThis message was not delivered because your account was temporarily "
                                f"restricted from sending proactive messages. Order {order(n)}.\n")
            parts.append(blocked)
    assert listed(batch(parts)) == sorted(genuine)


def test_one_unreadable_part_does_not_cost_the_notices() -> None:
    """Decided: a mail with notices and a part that cannot be read (a damaged .eml, broken
    base64) lists its notices; the unreadable part is kept with the message for a person."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "batch"
    msg.set_content("two notices and a damaged file")
    msg.add_attachment(notice("en", 1))
    msg.add_attachment(b"\x00\xff garbage", maintype="application", subtype="octet-stream", filename="broken.eml")
    msg.add_attachment(notice("de", 2))
    raw = mail.as_bytes(msg).replace(b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: base64", 1)
    assert listed(raw) == sorted([order(1), order(2)])


def test_twenty_attached_notices_cost_about_twenty_notices() -> None:
    """Recognition of a 20-notice mail does work proportional to its notices: no layer is read
    more than a fixed number of times (counted, not timed: the text read per notice)."""
    from optout.recognise import notice as judged

    calls = []
    original = judged.judge
    try:
        judged.judge = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[assignment]
        parse(batch([notice("en", n) for n in range(20)]))
    finally:
        judged.judge = original  # type: ignore[assignment]
    assert 20 <= len(calls) <= 3 * 20 + 2
