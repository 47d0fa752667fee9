"""Recognition: every form and language of a genuine notice is found; nothing else is."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

import mail
import signing
from conftest import bounce_files
from optout.recognise import parse
from samples import EXPECTED, SAMPLES

ORDER = "112-4455667-7788990"
BUYER = "k3v9xq2mz7p4w1r@marketplace.amazon.com"


def test_samples_match_expected() -> None:
    """Each sample message gives exactly the expected kind, order ID, buyer and code."""
    for name, want in EXPECTED.items():
        got = parse(SAMPLES[name]).public()
        assert {k: got[k] for k in want} == want, name


def test_sample_details() -> None:
    """how, forwarded_by, marketplace and language are filled in as a seller would expect."""
    auto = parse(SAMPLES["de-gmail-autoforward.eml"])
    assert (auto.how, auto.forwarded_by, auto.marketplace, auto.language) == (
        "auto-forward", "hans@haendler.example", "amazon.de", "de")
    inline = parse(SAMPLES["en-gmail-inline-forward.eml"])
    assert (inline.how, inline.forwarded_by, inline.language) == ("inline-forward", "sam@seller-shop.example", "en")
    direct = parse(SAMPLES["fr-direct.eml"])
    assert (direct.how, direct.forwarded_by, direct.marketplace) == ("direct", None, "amazon.fr")


def test_no_bounce_is_a_notice() -> None:
    """All 503 real bounces are `other`, with a reason, and none raises."""
    files = bounce_files()
    assert len(files) == 503
    for path in files:
        result = parse(path.read_bytes())
        assert result.kind == "other", path.name
        assert result.reason


@pytest.mark.parametrize("lang", ["en", "fr", "de"])
@pytest.mark.parametrize("cte", ["quoted-printable", "base64", "8bit"])
def test_direct_notice_each_language_and_encoding(lang: str, cte: str) -> None:
    """A direct notice in each language and transfer encoding gives its order ID and language."""
    result = parse(mail.as_bytes(mail.notice(lang, ORDER, cte=cte)))
    assert (result.kind, result.order_id, result.language, result.how) == ("optout_notice", ORDER, lang, "direct")


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252", "iso-8859-15"])
def test_legacy_charsets(charset: str) -> None:
    """French and German notices in Latin-1 and Windows-1252 are read correctly."""
    for lang in ("fr", "de"):
        result = parse(mail.as_bytes(mail.notice(lang, ORDER, charset=charset, cte="quoted-printable")))
        assert result.kind == "optout_notice", (lang, charset, result.reason)


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r"])
def test_line_endings(ending: bytes) -> None:
    """CRLF, LF and bare-CR line ends all work."""
    raw = mail.as_bytes(mail.notice("en", ORDER, cte="8bit")).replace(b"\r\n", b"\n").replace(b"\n", ending)
    assert parse(raw).order_id == ORDER


def test_buyer_alias_from_quoted_original() -> None:
    """The buyer's alias shown in the notice is taken, and sets the marketplace."""
    result = parse(mail.as_bytes(mail.notice("en", ORDER, buyer=BUYER.upper())))
    assert result.buyer_email == BUYER and result.marketplace == "amazon.com"


def test_html_only_notice() -> None:
    """A notice with only an HTML part is read through its markup."""
    msg = mail.notice("en", ORDER)
    html = "<html><body><p>Dear Seller,</p><p>We were unable to deliver the message you sent for order <b>" \
           f"{ORDER}</b> because the buyer has chosen to opt&nbsp;out of receiving unsolicited messages.</p></body></html>"
    msg.set_content(html, subtype="html")
    assert parse(mail.as_bytes(msg)).order_id == ORDER


GMAIL = ("---------- Forwarded message ---------\nFrom: Amazon Seller Central <seller-notification@amazon.com>\n"
         "Date: Fri, Mar 6, 2026 at 11:58 AM\nSubject: Your message to a buyer could not be delivered\nTo: <sam@seller-shop.example>")
BLOCKS = {
    "gmail": GMAIL,
    "gmail-de": ("---------- Weitergeleitete Nachricht ---------\nVon: Amazon <seller-notification@amazon.com>\n"
                 "Date: Fr., 6. März 2026 um 11:58 Uhr\nSubject: Nachricht\nTo: <sam@seller-shop.example>"),
    "outlook": ("________________________________\nFrom: Amazon Seller Central <seller-notification@amazon.com>\n"
                "Sent: Tuesday, March 3, 2026 9:14 AM\nTo: Sam Seller <sam@seller-shop.example>\nSubject: Your message"),
    "outlook-2013-mailto": ("-----Original Message-----\nFrom: Amazon Seller Central [mailto:seller-notification@amazon.com] \n"
                            "Sent: Tuesday, March 03, 2026 9:14 AM\nTo: sam@seller-shop.example\nSubject: Your message"),
    "outlook-fr": ("De : Amazon <seller-notification@amazon.com>\nEnvoyé : mardi 3 mars 2026 09:14\n"
                   "À : Sam <sam@seller-shop.example>\nObjet : Votre message"),
    "outlook-it": "Da: Amazon <seller-notification@amazon.com>\nInviato: martedì 3 marzo 2026 09:14\nA: sam@seller-shop.example\nOggetto: Messaggio",
    "outlook-nl": "Van: Amazon <seller-notification@amazon.com>\nVerzonden: dinsdag 3 maart 2026 09:14\nAan: sam@seller-shop.example\nOnderwerp: Bericht",
    "outlook-sv": "Från: Amazon <seller-notification@amazon.com>\nSkickat: den 3 mars 2026 09:14\nTill: sam@seller-shop.example\nÄmne: Meddelande",
    "outlook-pl": "Od: Amazon <seller-notification@amazon.com>\nWysłano: wtorek, 3 marca 2026 09:14\nDo: sam@seller-shop.example\nTemat: Wiadomość",
    "outlook-ru": "От: Amazon <seller-notification@amazon.com>\nОтправлено: 3 марта 2026 г. 9:14\nКому: sam@seller-shop.example\nТема: Сообщение",
    "outlook-es": "De: Amazon <seller-notification@amazon.com>\nEnviado: martes, 3 de marzo de 2026 9:14\nPara: sam@seller-shop.example\nAsunto: Mensaje",
    "outlook-bold": "*From:* Amazon <seller-notification@amazon.com>\n*Sent:* Tuesday, March 3, 2026 9:14 AM\n*To:* sam@seller-shop.example\n*Subject:* Your message",
    "apple-mail": ("Begin forwarded message:\n\nFrom: Amazon Seller Central <seller-notification@amazon.com>\n"
                   "Subject: Your message to a buyer could not be delivered\nDate: 3 March 2026 at 09:14:02 GMT\nTo: sam@seller-shop.example"),
    "apple-mail-de": ("Anfang der weitergeleiteten Nachricht:\n\nVon: Amazon <seller-notification@amazon.com>\n"
                      "Betreff: Nachricht\nDatum: 3. März 2026 um 09:14:02 MEZ\nAn: sam@seller-shop.example"),
    "thunderbird": ("-------- Forwarded Message --------\nSubject: \tYour message to a buyer could not be delivered\n"
                    "Date: \tTue, 3 Mar 2026 09:14:02 +0000\nFrom: \tAmazon Seller Central <seller-notification@amazon.com>\nTo: \tsam@seller-shop.example"),
    "yahoo": ("----- Forwarded Message -----\nFrom: Amazon Seller Central <seller-notification@amazon.com>\n"
              "To: sam@seller-shop.example\nSent: Tuesday, March 3, 2026, 09:14:02 AM GMT\nSubject: Your message"),
}


@pytest.mark.parametrize("client", sorted(BLOCKS))
@pytest.mark.parametrize("html", [False, True])
def test_inline_forward_by_client(client: str, html: bool) -> None:
    """A hand forward in each client's format and language, as plain text or HTML only."""
    raw = mail.wrap_inline(mail.body("en", ORDER), header_block=BLOCKS[client], html=html)
    result = parse(raw)
    assert (result.kind, result.order_id, result.how) == ("optout_notice", ORDER, "inline-forward"), result.reason
    assert result.forwarded_by == mail.SELLER


def test_inline_forward_quoted_with_markers() -> None:
    """A forward whose lines are quoted with '> ' (and '>> ') is still read."""
    quoted = "\n".join("> " + line for line in (GMAIL + "\n\n" + mail.body("fr", ORDER)).splitlines())
    result = parse(mail.wrap_inline(">" + quoted, header_block="On Mar 6 Sam wrote:"))
    assert (result.order_id, result.language) == (ORDER, "fr")


def test_forward_of_a_forward() -> None:
    """A colleague forwards the seller's forward: the innermost Amazon original counts."""
    outer = "---------- Forwarded message ---------\nFrom: Sam <sam@seller-shop.example>\nDate: today\nSubject: Fwd: notice\nTo: <kim@seller-shop.example>"
    inner_text = "see below\n\n" + GMAIL + "\n\n" + mail.body("de", ORDER, buyer="k3v9xq2mz7p4w1r@marketplace.amazon.de")
    result = parse(mail.wrap_inline(inner_text, header_block=outer, from_="kim@seller-shop.example"))
    assert (result.order_id, result.buyer_email, result.forwarded_by) == (
        ORDER, "k3v9xq2mz7p4w1r@marketplace.amazon.de", "kim@seller-shop.example")


def test_forward_as_attachment_and_nested() -> None:
    """message/rfc822 attachments, one inside another, are opened; a signed original's bytes are
    kept for DKIM (an unsigned one has nothing to verify)."""
    original = mail.notice("en", ORDER)
    once = parse(mail.wrap_attached(original))
    assert (once.kind, once.how, once.order_id, once.signed_bytes) == ("optout_notice", "attachment", ORDER, None)
    signed = signing.sign(mail.as_bytes(original))
    twice = parse(mail.wrap_attached(mail.wrap_attached(signed), from_="kim@seller-shop.example"))
    assert (twice.order_id, twice.forwarded_by) == (ORDER, "kim@seller-shop.example")
    assert twice.signed_bytes and b"seller-notification@amazon.com" in twice.signed_bytes


def test_attached_eml_file() -> None:
    """An original attached as a plain .eml file (application/octet-stream) is opened too."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "notice"
    msg.set_content("attached")
    msg.add_attachment(mail.as_bytes(mail.notice("en", ORDER)), maintype="application",
                       subtype="octet-stream", filename="notice.eml")
    assert parse(mail.as_bytes(msg)).order_id == ORDER


def test_gmail_forwarding_confirmation_workspace_subject() -> None:
    """The Google Workspace-branded verification is caught with its code and link."""
    msg = EmailMessage()
    msg["From"] = "Google Workspace <forwarding-noreply@google.com>"
    msg["To"] = mail.INGEST
    msg["Subject"] = "(#987654321) Google Workspace Forwarding Confirmation - Receive Mail from sam@seller-shop.example"
    msg.set_content("sam@seller-shop.example has requested to automatically forward mail to your email\naddress x.\n"
                    "Confirmation code: 987654321\n\nhttps://mail-settings.google.com/mail/vf-abc\n")
    result = parse(mail.as_bytes(msg))
    assert (result.kind, result.confirmation_code, result.forwarded_by) == (
        "forwarding_confirmation", "987654321", "sam@seller-shop.example")
    assert result.confirmation_link == "https://mail-settings.google.com/mail/vf-abc"


# --- look-alikes: none of these may add anyone -------------------------------------------------

def _from(sender: str, text: str, subject: str = "Notice") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, mail.SELLER, subject
    msg.set_content(text)
    return mail.as_bytes(msg)


LOOKALIKES = {
    "buyer message with opt-out words": _from(
        f"Pat - Amazon Marketplace <{BUYER}>",
        f"Order {ORDER}. I chose to opt out of unsolicited messages, we were unable to deliver... stop mailing me."),
    "buyer message quoting a full notice": _from(f"Pat <{BUYER}>", mail.body("en", ORDER)),
    "buyer message with a forged forward block": _from(f"Pat <{BUYER}>", GMAIL + "\n\n" + mail.body("en", ORDER)),
    "blocked for another reason": _from(
        "seller-notification@amazon.com",
        f"We were unable to deliver the message you sent for order {ORDER} because it contains content "
        "that is not permitted under our guidelines (external links)."),
    "attachment type refused": _from(
        "seller-notification@amazon.com",
        f"Your message for order {ORDER} could not be delivered because the attachment type is not supported."),
    "order notification": _from("auto-confirm@amazon.com", f"Sold, ship now: order {ORDER}. Ship by March 5.",
                                "Sold, ship now"),
    "newsletter quoting the notice": _from("news@sellerblog.example", "This week: " + mail.body("en", ORDER)),
    "look-alike amazon.com.evil.example": _from("notice@amazon.com.evil.example", mail.body("en", ORDER)),
    "look-alike amazon-notices.com": _from("notice@amazon-notices.com", mail.body("en", ORDER)),
    "look-alike evilamazon.com": _from("notice@evilamazon.com", mail.body("en", ORDER)),
    "inline forward of a look-alike": mail.wrap_inline(
        mail.body("en", ORDER), header_block=GMAIL.replace("seller-notification@amazon.com", "x@amazon.com.evil.example")),
    "notice wording without an order ID": _from("seller-notification@amazon.com", mail.body("en", "(order withheld)")),
    "two conflicting order IDs": _from(
        "seller-notification@amazon.com",
        mail.body("en", f"{ORDER} or 113-0000000-0000000")),
}


@pytest.mark.parametrize("case", sorted(LOOKALIKES))
def test_lookalikes_are_not_notices(case: str) -> None:
    """Things that only look like a notice are `other`, with a reason."""
    result = parse(LOOKALIKES[case])
    assert result.kind == "other", result
    assert result.reason and result.order_id is None
