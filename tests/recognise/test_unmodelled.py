"""Forwards nobody here modelled label by label: header blocks in interface languages the
catalogue lacks (and in an invented one), Yahoo's run-together block, Lotus Notes, Zoho, Yandex,
a GroupWise forward forwarded again from Outlook, Outlook's block in the HTML part alone,
redistribution by a list or group, server-side redirects, opaque S/MIME, raw UTF-8 headers.

Each shape has twins that must stay `other`: the same block with the Amazon address moved to a
recipient's field, a look-alike sender, a buyer's relay."""

from __future__ import annotations

import base64
import datetime
import tomllib
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mail
from optout.recognise import forwards, mime, parse

ORDER = "402-7788990-1122334"
AMAZON = "auto-communication@amazon.de"
LOOKALIKE = "auto-communication@amazon-de-notices.com"
COLLEAGUE = "walter@globex.example"
SELLER = mail.SELLER


def _forward(body: str, *, html: bool = False, sender: str = SELLER, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, mail.INGEST, "Fwd: notice"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body, subtype="html" if html else "plain")
    return mail.as_bytes(msg)


# Yahoo writes the block on one line after its separator; labels as its interfaces print them
# (Polish "Dw" and Portuguese "Assunto" without a colon, as Yahoo does).
YAHOO = {
    "fi": ("Edelleenlähetetty viesti", "Lähettäjä", "Vastaanottaja", "Kopio", "Lähetetty", "Aihe:"),
    "sv": ("Vidarebefordrat meddelande", "Från", "Till", "Kopia", "Skickat", "Ämne:"),
    "da": ("Videresendt meddelelse", "Fra", "Til", "Cc", "Sendt", "Emne:"),
    "hu": ("Továbbított üzenet", "Feladó", "Címzett", "Másolat", "Elküldve", "Tárgy:"),
    "pl": ("Przekazana wiadomość", "Od", "Do", "Dw", "Wysłano", "Temat:"),
    "sk": ("Preposlaná správa", "Od", "Komu", "Kópia", "Odoslané", "Predmet:"),
    "nl": ("Doorgestuurd bericht", "Van", "Aan", "Cc", "Verzonden", "Onderwerp:"),
    "it": ("Messaggio inoltrato", "Da", "A", "Cc", "Inviato", "Oggetto:"),
    "pt": ("Mensagem reencaminhada", "De", "Para", "Cc", "Enviado", "Assunto"),
    "fr": ("Message transmis", "De ", "À ", "Cc ", "Envoyé ", "Objet :"),
    # an interface language nobody speaks: no label here is in any catalogue
    "invented": ("Zorblat flimmeret", "Kwazzo", "Plorvin", "Dribnok", "Snerkel", "Vloopa:"),
}


def _yahoo(lang: str, sender: str, cc: str) -> str:
    sep, frm, to, copy, sent, subject = YAHOO[lang]
    copy = f"{copy}:" if copy.strip() != "Dw" else copy
    return (f"----- {sep} ----- {frm}: Amazon <{sender}>{to}: \"{SELLER}\" <{SELLER}>{copy} Walter "
            f"<{cc}>{sent}: tiistaina 3. maaliskuuta 2026 klo 09.14.02 UTC+1{subject} Your message")


@pytest.mark.parametrize("lang", sorted(YAHOO))
@pytest.mark.parametrize("notice_lang", ["en", "de"])
def test_yahoo_blocks_in_any_interface_language(lang, notice_lang) -> None:
    """The colleague in copy under a label the catalogue lacks is no sender: listed."""
    result = parse(_forward(f"FYI\n\n{_yahoo(lang, AMAZON, COLLEAGUE)}\n\n{mail.body(notice_lang, ORDER)}"))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason


@pytest.mark.parametrize("lang", sorted(YAHOO))
def test_yahoo_twins_stay_other(lang) -> None:
    """The same blocks with Amazon only in copy, or a look-alike sender: `other`."""
    moved = _yahoo(lang, COLLEAGUE, AMAZON)
    lookalike = _yahoo(lang, LOOKALIKE, COLLEAGUE)
    for block in (moved, lookalike):
        assert parse(_forward(f"FYI\n\n{block}\n\n{mail.body('en', ORDER)}")).kind == "other", block


_CATALOGUE = {label.lower().rstrip(":") for labels in tomllib.loads(
    (Path(forwards.__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))["forward"].values()
    for label in labels}
# words of no language: none a label any catalogue here knows
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéřłœ", min_size=3, max_size=10).filter(
    lambda word: word not in _CATALOGUE)


@st.composite
def invented_block(draw: st.DrawFn, sender: str, cc: str) -> str:
    """A header block, one field a line, in an invented language: the sender's field first (as
    every client writes it), then the others in any order."""
    labels = draw(st.lists(WORDS, min_size=5, max_size=5, unique=True))
    rest = [f"{labels[1].title()}: Sam <{SELLER}>", f"{labels[2].title()}: Walter <{cc}>",
            f"{labels[3].title()}: 3.3.2026 09:14", f"{labels[4].title()}: Your message"]
    return "\n".join([f"{labels[0].title()}: Amazon <{sender}>", *draw(st.permutations(rest))])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), lang=st.sampled_from(["en", "fr", "de"]), html=st.booleans())
def test_header_blocks_in_an_invented_language(data, lang, html) -> None:
    """Labels that are words of no language: the block's first address is its sender, the
    others the seller's side. The twin, Amazon moved into a recipient's field, stays `other`."""
    block = data.draw(invented_block(AMAZON, COLLEAGUE))
    twin = data.draw(invented_block(COLLEAGUE, AMAZON))
    for shown, want in ((block, "optout_notice"), (twin, "other")):
        text = f"See below.\n\n---------------------------\n{shown}\n\n{mail.body(lang, ORDER)}"
        if html:
            text = "<p>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
                "\n", "<br>") + "</p>"
        result = parse(_forward(text, html=html))
        assert result.kind == want, (shown, result.reason)


SHAPES = {
    "lotus-notes": '----- Forwarded by Sam Seller/Shop on 03/03/2026 10:15 AM -----\n\n"Amazon" <{a}>\n'
                   "03/03/2026 09:14 AM\n\nTo\n{s}\ncc\n{c}\nSubject\nYour message\n\n",
    "lotus-reply": "{a} wrote on 03/03/2026 09:14:02 AM:\n\n",
    "zoho-reply": "---- On Tue, 03 Mar 2026 09:14:02 +0000 Amazon <{a}> wrote ----\n\n",
    "zoho-forward": "============ Forwarded message ============\nFrom: Amazon <{a}>\nTo: <{s}>\nCc: <{c}>\n"
                    "Date: Tue, 03 Mar 2026 09:14:02 +0000\nSubject: Your message\n"
                    "============ Forwarded message ============\n\n",
    "yandex": "03.03.2026, 09:14, \"Amazon\" <{a}>:\n\n",
    "groupwise-then-outlook": "________________________________\nFrom: Col League <{c}>\nSent: Tuesday, March 3, "
                              "2026 10:00 AM\nTo: Sam <{s}>\nSubject: FW: notice\n\n\n>>> \"Amazon Seller Central\" "
                              "<{a}> 3/3/2026 9:14 AM >>>\n",
    "zendesk": "##- Please type your reply above this line -##\n\nYour request (4521) has been updated.\n\n"
               "Amazon Seller Central ({a})\nMar 3, 2026, 09:14 GMT+1\n\n",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_other_clients_and_helpdesks(shape, lang) -> None:
    """Lotus Notes, Zoho, Yandex, GroupWise forwarded again from Outlook, a helpdesk ticket."""
    block = SHAPES[shape].format(a=AMAZON, s=SELLER, c=COLLEAGUE)
    result = parse(_forward(f"FYI\n\n{block}{mail.body(lang, ORDER)}"))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason
    twin = SHAPES[shape].format(a=LOOKALIKE, s=SELLER, c=COLLEAGUE)
    assert parse(_forward(f"FYI\n\n{twin}{mail.body(lang, ORDER)}")).kind == "other"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


def test_outlooks_header_block_in_the_html_part_alone() -> None:
    """The plain part carries the notice but no block; the HTML part has it, with a banner and
    typographic quotes around the name."""
    block = (f"<div style='background:#fee'>CAUTION: This email originated from outside of the organization.</div>"
             f"<hr><p><b>From:</b> “Amazon Seller Central” &lt;{AMAZON}&gt;<br><b>Sent:</b> Tuesday, March 3, 2026 "
             f"9:14 AM<br><b>To:</b> Sam &lt;{SELLER}&gt;<br><b>Subject:</b> Your message</p>")
    for sender, want in ((AMAZON, "optout_notice"), (LOOKALIKE, "other")):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = SELLER, mail.INGEST, "FW: notice"
        msg.set_content("FYI\n\n" + mail.body("en", ORDER))
        msg.add_alternative(block.replace(AMAZON, sender) + f"<p>{_html(mail.body('en', ORDER))}</p>", subtype="html")
        assert parse(mail.as_bytes(msg)).kind == want


def _list_copy(**headers: str) -> bytes:
    msg = mail.notice("de", ORDER)
    del msg["From"]
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return mail.as_bytes(msg)


def test_google_groups_rewriting_from() -> None:
    """A Google Group rewrites From (DMARC) and adds its list headers: the author in
    X-Original-From is the sender, and the list's marks are not a newsletter's."""
    raw = _list_copy(From="'Amazon Seller Central' via Sellers <sellers@seller-shop.example>",
                     X_Original_From=f"Amazon Seller Central <{AMAZON}>", Reply_To=f"<{AMAZON}>",
                     List_Id="<sellers.seller-shop.example>", Precedence="list",
                     List_Unsubscribe="<mailto:googlegroups-manage+1+unsubscribe@googlegroups.com>")
    result = parse(raw)
    assert result.kind == "optout_notice" and result.forwarded_by == "sellers@seller-shop.example", result.reason
    twin = raw.replace(AMAZON.encode(), LOOKALIKE.encode())
    assert parse(twin).kind == "other"


def test_mailman_munged_and_wrapped() -> None:
    """Mailman's two DMARC mitigations: From munged ("via", author in Reply-To) and the whole
    original wrapped as an attached message."""
    munged = _list_copy(From="Amazon via Sellers <sellers@lists.seller-shop.example>", Reply_To=f"<{AMAZON}>",
                        List_Id="Sellers <sellers.lists.seller-shop.example>",
                        List_Post="<mailto:sellers@lists.seller-shop.example>")
    assert parse(munged).kind == "optout_notice"
    wrapper = EmailMessage()
    wrapper["From"] = wrapper["To"] = "sellers@lists.seller-shop.example"
    wrapper["Subject"], wrapper["List-Id"] = "Your message", "<sellers.lists.seller-shop.example>"
    wrapper.set_content("The original message is attached.")
    wrapper.add_attachment(mail.notice("fr", ORDER))
    assert parse(mail.as_bytes(wrapper)).order_id == ORDER


def test_amazons_own_mailing_list_stays_a_mailing() -> None:
    """List headers naming Amazon's own domain are Amazon's newsletter marks: `other`."""
    msg = mail.notice("en", ORDER)
    msg["List-Id"] = "<seller-news.amazon.com>"
    assert parse(mail.as_bytes(msg)).kind == "other"


@pytest.mark.parametrize(("header", "value"), [
    ("X-Sieve-Redirected-From", "sam@seller-shop.example"),
    ("Resent-From", "Sam <sam@seller-shop.example>"),
    ("X-MS-Exchange-Inbox-Rules-Loop", "sam@seller-shop.example"),
])
def test_server_side_redirects_name_who_redirected(header, value) -> None:
    """Sieve, Resent-* (procmail, mutt's bounce) and Exchange's rules: listed, forwarder named."""
    msg = mail.notice("de", ORDER)
    msg[header] = value
    result = parse(mail.as_bytes(msg))
    assert result.kind == "optout_notice" and result.forwarded_by == "sam@seller-shop.example"


def _smime_signed(inner: bytes) -> bytes:
    """An opaque S/MIME signed-data message (as Outlook sends when set to), signed by a key made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, SELLER)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    der = (pkcs7.PKCS7SignatureBuilder().set_data(inner).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.DER, []))
    body = base64.encodebytes(der).decode()
    return (f"From: {SELLER}\r\nTo: {mail.INGEST}\r\nSubject: FW: notice\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n"
            f"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n"
            f"{body}").encode()


def test_opaque_smime_signed_forwards_are_read() -> None:
    """The forward's text travels inside the signature: read it (inline and attached originals)."""
    inline = (f"Content-Type: text/plain; charset=utf-8\r\n\r\nFYI\r\n\r\n---------- Forwarded message ---------\r\n"
              f"From: Amazon <{AMAZON}>\r\nTo: <{SELLER}>\r\n\r\n{mail.body('de', ORDER)}").encode()
    result = parse(_smime_signed(inline))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason
    assert parse(_smime_signed(inline.replace(AMAZON.encode(), LOOKALIKE.encode()))).kind == "other"


def test_pgp_mime_signed_forwards_are_read() -> None:
    """multipart/signed (PGP/MIME): the first part is the forward."""
    inner = EmailMessage()
    inner.set_content(f"FYI\n\n---------- Forwarded message ---------\nFrom: Amazon <{AMAZON}>\n\n"
                      f"{mail.body('fr', ORDER)}")
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = SELLER, mail.INGEST, "FW"
    outer.make_mixed()
    outer.attach(inner)
    outer.attach(EmailMessage())
    outer.get_payload()[1].set_content(b"-----BEGIN PGP SIGNATURE-----\n...", maintype="application",
                                       subtype="pgp-signature")
    outer.replace_header("Content-Type", 'multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; '
                         f'boundary="{outer.get_boundary()}"')
    assert parse(mail.as_bytes(outer)).order_id == ORDER


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    """An 8-bit UTF-8 Subject (RFC 6532) is read as written, and one in Latin-1 as mail readers do."""
    raw = mail.as_bytes(mail.notice("en", ORDER))
    utf8 = raw.replace(b"Subject: Your message to a buyer could not be delivered",
                       "Subject: Sua mensagem não pôde ser entregue".encode())
    latin = raw.replace(b"Subject: Your message to a buyer could not be delivered",
                        "Subject: Sua mensagem não pôde".encode("latin-1"))
    assert mime.header(mime.load(utf8), "Subject") == "Sua mensagem não pôde ser entregue"
    assert mime.header(mime.load(latin), "Subject") == "Sua mensagem não pôde"
    assert parse(utf8).kind == "optout_notice"


GERMAN_POLICY = ("Sehr geehrte Verkäuferin, sehr geehrter Verkäufer,\n\nKäufer können den Erhalt unerwünschter "
                 "Nachrichten ablehnen. " + "Dieser Abschnitt erklärt die Regeln für die Käufer-Verkäufer-"
                 "Kommunikation. " * 5 + "\n\n")
GERMAN_NEWSLETTERS = {
    "quoted": GERMAN_POLICY + "Sie erhalten dann diese Benachrichtigung: „Wir konnten Ihre Nachricht zur Bestellung "
              "303-2233445-5667788 nicht zustellen, weil der Käufer die Annahme unerwünschter Nachrichten von "
              "Verkäufern deaktiviert hat.“ Prüfen Sie daher …",
    "wie-folgt": GERMAN_POLICY + "Die Benachrichtigung lautet wie folgt: Wir konnten Ihre Nachricht zur Bestellung "
                 "303-2233445-5667788 nicht zustellen, weil der Käufer die Annahme unerwünschter Nachrichten von "
                 "Verkäufern deaktiviert hat.",
    "beispielsweise": GERMAN_POLICY + "Beispielsweise erhalten Sie: Wir konnten Ihre Nachricht zur Bestellung "
                      "303-2233445-5667788 nicht zustellen, weil der Käufer die Annahme unerwünschter Nachrichten "
                      "von Verkäufern deaktiviert hat.",
}


@pytest.mark.parametrize("name", sorted(GERMAN_NEWSLETTERS))
@pytest.mark.parametrize("forwarded", [False, True])
def test_a_german_newsletter_quoting_the_notice_is_not_listed(name, forwarded) -> None:
    """Amazon's German policy mail quoting the notice, „…“ quoted far before its wording, or
    framed as an example; sent direct without list marks, or forwarded by hand."""
    text = GERMAN_NEWSLETTERS[name]
    if forwarded:
        raw = _forward(f"From: Amazon Seller Central <{AMAZON}>\nSubject: Neuigkeiten\n\n{text}")
    else:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = f"Amazon Seller Central <{AMAZON}>", mail.INGEST, "Neuigkeiten"
        msg.set_content(text)
        raw = mail.as_bytes(msg)
    result = parse(raw)
    assert result.kind == "other", result.reason


# Header blocks as clients write them in many interface languages, each with a colleague in copy
# (under a label the catalogue may lack), and helpdesk and signed layouts. {a}: the sender's
# address, {t}: the notice, {q}/{qq}: the notice quoted once or twice.
CLIENT_BLOCKS = {
 "gorgias": "Hi team\n\nOn Tue, Mar 3, 2026 at 9:14 AM Amazon <{a}> wrote:\n> {q}",
 "edesk": "Forwarded from eDesk\n\nFrom: Amazon Seller Central <{a}>\nSent: 03/03/2026 09:14\nTo: orders@seller-shop.example\nSubject: Your message to a buyer could not be delivered\n\n{t}",
 "helpscout": "Conversation #1234 forwarded by Sam\n\n---------- Forwarded message ---------\nFrom: Amazon <{a}>\nDate: Tue, Mar 3, 2026 at 9:14 AM\nSubject: Your message\nTo: <orders@seller-shop.example>\n\n{t}",
 "freshdesk": "Please process.\n\nForwarded message:\n\nFrom: Amazon Seller Central <{a}>\nDate: 3 March 2026 09:14\nSubject: Your message\nTo: orders@seller-shop.example\n\n{t}",
 "zendesk-html-plain": "Amazon Seller Central ({a})\nMar 3, 2026, 09:14 GMT+1\n\n{t}",
 "outlook-fr": "Voir ci-dessous\n\n________________________________\nDe : Amazon <{a}>\nEnvoyé : mardi 3 mars 2026 09:14\nÀ : Sam <sam@seller-shop.example>\nCc : Compta <compta@other-co.example>\nObjet : Votre message\n\n{t}",
 "outlook-nl-cc-first": "Zie hieronder\n\nVan: Amazon <{a}>\nVerzonden: dinsdag 3 maart 2026 09:14\nAan: Sam <sam@seller-shop.example>\nCC: Boekhouding <bh@other-co.example>\nOnderwerp: Uw bericht\n\n{t}",
 "thunderbird": "-------- Forwarded Message --------\nSubject: \tYour message to a buyer could not be delivered\nDate: \tTue, 3 Mar 2026 09:14:02 +0000\nFrom: \tAmazon <{a}>\nTo: \tsam@seller-shop.example\n\n\n\n{t}",
 "thunderbird-de": "-------- Weitergeleitete Nachricht --------\nBetreff: \tIhre Nachricht\nDatum: \tTue, 3 Mar 2026 09:14:02 +0000\nVon: \tAmazon <{a}>\nAn: \tsam@seller-shop.example\nKopie (CC): \tjo@other-co.example\n\n\n\n{t}",
 "apple": "Begin forwarded message:\n\n> From: Amazon <{a}>\n> Subject: Your message\n> Date: 3 March 2026 at 09:14:02 GMT\n> To: sam@seller-shop.example\n> Cc: jo@other-co.example\n> \n> {q}",
 "apple-de": "Anfang der weitergeleiteten Nachricht:\n\n> Von: Amazon <{a}>\n> Betreff: Ihre Nachricht\n> Datum: 3. März 2026 um 09:14:02 MEZ\n> An: sam@seller-shop.example\n> Kopie: jo@other-co.example\n> \n> {q}",
 "gmail-ja": "---------- Forwarded message ---------\n差出人: Amazon <{a}>\nDate: 2026年3月3日(火) 9:14\nSubject: メッセージ\nTo: <sam@seller-shop.example>\nCc: <jo@other-co.example>\n\n{t}",
 "outlook-mobile": "Get Outlook for iOS\n________________________________\nFrom: Amazon <{a}>\nSent: Tuesday, March 3, 2026 9:14:02 AM\nTo: Sam <sam@seller-shop.example>\nSubject: Your message\n\n{t}",
 "pgp-inline": "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nFYI\n\n- ---------- Forwarded message ---------\nFrom: Amazon <{a}>\nDate: Tue, Mar 3, 2026\nTo: <sam@seller-shop.example>\n\n{t}\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----",
 "quoted-twice": "> > From: Amazon <{a}>\n> > Date: Tue, Mar 3, 2026\n> > To: <sam@seller-shop.example>\n> >\n> > {qq}",
 "reply-chain-cc-unknown-lang": "Hei\n\n---- Välitetty viesti ----\nLähettäjä: Amazon <{a}>\nPäiväys: 3.3.2026 9.14\nVastaanottaja: sam@seller-shop.example\nKopio: jo@other-co.example\nAihe: Viesti\n\n{t}",
 "outlook-ru": "-----Original Message-----\nОт: Amazon <{a}>\nОтправлено: 3 марта 2026 г. 9:14\nКому: sam@seller-shop.example\nКопия: jo@other-co.example\nТема: Сообщение\n\n{t}",
 "outlook-pt-br": "De: Amazon <{a}>\nEnviado: terça-feira, 3 de março de 2026 09:14\nPara: sam@seller-shop.example\nCc: jo@other-co.example\nAssunto: Mensagem\n\n{t}",
 "outlook-tr": "Kimden: Amazon <{a}>\nGönderildi: 3 Mart 2026 Salı 09:14\nKime: sam@seller-shop.example\nBilgi: jo@other-co.example\nKonu: Mesaj\n\n{t}",
 "outlook-cs": "Od: Amazon <{a}>\nOdesláno: úterý 3. března 2026 9:14\nKomu: sam@seller-shop.example\nKopie: jo@other-co.example\nPředmět: Zpráva\n\n{t}",
 "outlook-ar": "من: Amazon <{a}>\nتاريخ الإرسال: 3 مارس 2026 09:14\nإلى: sam@seller-shop.example\nنسخة: jo@other-co.example\nالموضوع: رسالة\n\n{t}",
 "outlook-ko": "보낸 사람: Amazon <{a}>\n보낸 날짜: 2026년 3월 3일 화요일 오전 9:14\n받는 사람: sam@seller-shop.example\n참조: jo@other-co.example\n제목: 메시지\n\n{t}",
 "outlook-zh": "发件人: Amazon <{a}>\n发送时间: 2026年3月3日 9:14\n收件人: sam@seller-shop.example\n抄送: jo@other-co.example\n主题: 消息\n\n{t}",
 "outlook-el": "Από: Amazon <{a}>\nΣτάλθηκε: Τρίτη, 3 Μαρτίου 2026 9:14 πμ\nΠρος: sam@seller-shop.example\nΚοιν.: jo@other-co.example\nΘέμα: Μήνυμα\n\n{t}",
 "outlook-he": "מאת: Amazon <{a}>\nנשלח: יום שלישי 3 מרץ 2026 09:14\nאל: sam@seller-shop.example\nעותק: jo@other-co.example\nנושא: הודעה\n\n{t}",
 "outlook-ja": "差出人: Amazon <{a}>\n送信日時: 2026年3月3日 9:14\n宛先: sam@seller-shop.example\nCC: jo@other-co.example\n件名: メッセージ\n\n{t}",
 "outlook-hu": "Feladó: Amazon <{a}>\nElküldve: 2026. március 3., kedd 9:14\nCímzett: sam@seller-shop.example\nMásolatot kap: jo@other-co.example\nTárgy: Üzenet\n\n{t}",
 "outlook-ro": "De la: Amazon <{a}>\nTrimis: marți, 3 martie 2026 09:14\nCătre: sam@seller-shop.example\nCc: jo@other-co.example\nSubiect: Mesaj\n\n{t}",
 "outlook-vi": "Từ: Amazon <{a}>\nĐã gửi: Thứ Ba, 3 tháng 3, 2026 9:14\nĐến: sam@seller-shop.example\nCc: jo@other-co.example\nChủ đề: Tin nhắn\n\n{t}",
 "outlook-th": "จาก: Amazon <{a}>\nส่ง: 3 มีนาคม 2026 9:14\nถึง: sam@seller-shop.example\nสำเนาถึง: jo@other-co.example\nเรื่อง: ข้อความ\n\n{t}",
 "outlook-id": "Dari: Amazon <{a}>\nTerkirim: Selasa, 3 Maret 2026 09:14\nKepada: sam@seller-shop.example\nTembusan: jo@other-co.example\nSubjek: Pesan\n\n{t}",
 "outlook-uk": "Від: Amazon <{a}>\nНадіслано: 3 березня 2026 р. 9:14\nКому: sam@seller-shop.example\nКопія: jo@other-co.example\nТема: Повідомлення\n\n{t}",
 "outlook-lt": "Nuo: Amazon <{a}>\nIšsiųsta: 2026 m. kovo 3 d. 9:14\nKam: sam@seller-shop.example\nKopija: jo@other-co.example\nTema: Žinutė\n\n{t}",
 "outlook-et": "Saatja: Amazon <{a}>\nSaadetud: 3. märts 2026 9:14\nAdressaat: sam@seller-shop.example\nKoopia: jo@other-co.example\nTeema: Sõnum\n\n{t}",
 "outlook-hr": "Šalje: Amazon <{a}>\nPoslano: utorak, 3. ožujka 2026. 9:14\nPrima: sam@seller-shop.example\nKopija: jo@other-co.example\nPredmet: Poruka\n\n{t}",
 "outlook-sl": "Pošiljatelj: Amazon <{a}>\nPoslano: torek, 3. marec 2026 9:14\nPrejemnik: sam@seller-shop.example\nKp: jo@other-co.example\nZadeva: Sporočilo\n\n{t}",
 "outlook-lv": "No: Amazon <{a}>\nNosūtīts: otrdiena, 2026. gada 3. martā 9:14\nKam: sam@seller-shop.example\nKopija: jo@other-co.example\nTēma: Ziņa\n\n{t}",
 "outlook-ca": "De: Amazon <{a}>\nEnviat el: dimarts, 3 de març de 2026 9:14\nPer a: sam@seller-shop.example\nA/c: jo@other-co.example\nTema: Missatge\n\n{t}",
 "outlook-is": "Frá: Amazon <{a}>\nSent: þriðjudagur, 3. mars 2026 09:14\nTil: sam@seller-shop.example\nAfrit: jo@other-co.example\nEfni: Skilaboð\n\n{t}",
}


@pytest.mark.parametrize("name", sorted(CLIENT_BLOCKS))
def test_client_blocks_in_many_languages_and_their_twins(name) -> None:
    """Listed from Amazon; `other` from a look-alike; `other` when a colleague sent it with
    Amazon only in copy."""
    shape = CLIENT_BLOCKS[name]
    text = mail.body("en", ORDER)
    filled = {"t": text, "q": text.replace("\n", "\n> "), "qq": text.replace("\n", "\n> > ")}
    result = parse(_forward(shape.format(a="auto-communication@amazon.com", **filled)))
    assert result.kind == "optout_notice" and result.order_id == ORDER, result.reason
    assert parse(_forward(shape.format(a=LOOKALIKE, **filled))).kind == "other"
    if "jo@other-co.example" in shape:
        swapped = shape.replace("jo@other-co.example", "@@").replace("{a}", "jo@other-co.example")
        swapped = swapped.replace("@@", "auto-communication@amazon.com")
        assert parse(_forward(swapped.format(**filled))).kind == "other"
