"""Builders for test mail: notices in each language and each form a seller's mail takes.

Bodies follow the wording in DESIGN.md; headers and senders are illustrative, as in the corpus.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

WORDING = {
    "en": ("Dear Seller,\n\nWe were unable to deliver the message you sent for order {order} because "
           "the buyer has chosen to opt out of receiving unsolicited messages from sellers.\n\n"
           "To send a message that is required to complete the order, choose \"Additional "
           "Information Required\".\n\nSincerely,\nSeller Support\n"),
    "fr": ("Bonjour,\n\nNous ne sommes pas parvenus à transmettre votre message au sujet de la commande "
           "{order}, car l'acheteur a choisi de ne pas recevoir de messages non sollicités de la part "
           "des vendeurs.\n\nCordialement,\nAmazon\n"),
    "de": ("Sehr geehrter Verkäufer,\n\nwir konnten Ihre Nachricht zur Bestellung {order} nicht zustellen, "
           "weil der Käufer die Annahme unerwünschter Nachrichten von Verkäufern deaktiviert hat.\n\n"
           "Mit freundlichen Grüßen\nAmazon Verkäufer-Support\n"),
}
SUBJECT = {
    "en": "Your message to a buyer could not be delivered",
    "fr": "Votre message qui était adressé à un acheteur n'a pas pu être transmis",
    "de": "Ihre Nachricht an einen Käufer wurde nicht zugestellt",
}
SENDER = {"en": "seller-notification@amazon.com", "fr": "donotreply@amazon.fr", "de": "donotreply@amazon.de"}
INGEST = "acme-token@ingest.example.net"
SELLER = "sam@seller-shop.example"


def body(lang: str = "en", order: str = "112-4455667-7788990", buyer: str | None = None) -> str:
    text = WORDING[lang].format(order=order)
    if buyer:
        text += f"\n----- Original message -----\nTo: {buyer}\nSubject: Your order\n"
    return text


def notice(lang: str = "en", order: str = "112-4455667-7788990", *, buyer: str | None = None,
           sender: str | None = None, to: str = INGEST, cte: str | None = None,
           charset: str = "utf-8", msgid: str = "<n1@amazon.com>") -> EmailMessage:
    """A notice as Amazon sends it (direct)."""
    msg = EmailMessage()
    msg["From"] = f"Amazon Seller Central <{sender or SENDER[lang]}>"
    msg["To"] = to
    msg["Subject"] = SUBJECT[lang]
    msg["Date"] = "Tue, 03 Mar 2026 09:14:02 +0000"
    msg["Message-ID"] = msgid
    msg.set_content(body(lang, order, buyer), charset=charset, cte=cte)
    return msg


def as_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP)


def wrap_inline(inner_text: str, *, header_block: str, subject: str = "Fwd: notice",
                html: bool = False, from_: str = SELLER) -> bytes:
    """A hand forward: the seller's note, a client's header block, then the original's text."""
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = INGEST
    msg["Subject"] = subject
    text = f"FYI\n\n{header_block}\n\n{inner_text}"
    if html:
        markup = "<div>" + text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>\n") + "</div>"
        msg.set_content(markup, subtype="html")
    else:
        msg.set_content(text)
    return as_bytes(msg)


def wrap_attached(inner: EmailMessage | bytes, *, from_: str = SELLER) -> bytes:
    """A forward as attachment (message/rfc822)."""
    msg = EmailMessage()
    msg["From"] = from_
    msg["To"] = INGEST
    msg["Subject"] = "FW: notice"
    msg.set_content("See attached.")
    if isinstance(inner, bytes):
        from email import message_from_bytes
        from email.policy import default

        inner = message_from_bytes(inner, policy=default)  # type: ignore[assignment]
    msg.add_attachment(inner)
    return as_bytes(msg)


def auto_forward(raw: bytes, seller: str = SELLER) -> bytes:
    """Gmail's auto-forward: original headers kept, X-Forwarded-* added on top."""
    return (f"X-Forwarded-To: {INGEST}\r\nX-Forwarded-For: {seller} {INGEST}\r\n").encode() + raw


def outlook_redirect(raw: bytes, seller: str = SELLER) -> bytes:
    """An Outlook / Exchange rule's redirect: the original kept whole, Exchange's marks on top."""
    return (f"X-MS-Exchange-Inbox-Rules-Loop: {seller}\r\n"
            "X-MS-Exchange-Organization-AutoForwarded: true\r\n").encode() + raw


def delivery_failure(index: int) -> bytes:
    """A mail server's bounce (multipart/report), the commonest thing that is not a notice."""
    msg = EmailMessage()
    msg["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.org>"
    msg["To"] = SELLER
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Message-ID"] = f"<bounce-{index}@mx.example.org>"
    msg.set_content(f"This is the mail system at host mx.example.org.\n\n<user{index}@example.org>: "
                    "host mx.example.org said: 550 5.1.1 unknown user\n")
    msg.add_attachment(f"Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; user{index}@example.org\n"
                       "Action: failed\nStatus: 5.1.1\n", subtype="delivery-status")
    return as_bytes(msg)
