"""Builders for mail that carries several notices: notices in four languages about numbered
orders, a buyer's relayed message, and a seller's mail with any of them attached (as messages,
as .eml files sent as octet-stream, or as other files)."""

from __future__ import annotations

from email.message import EmailMessage

import mail

AMAZON = {"en": "auto-communication@amazon.com", "fr": "auto-communication@amazon.fr",
          "de": "auto-communication@amazon.de", "ja": "auto-communication@amazon.co.jp"}
JA = ("出品者様\n\n購入者が出品者からの未承諾広告メールを受信しないように設定しているため、注文 {order} に関する"
      "メッセージを送信できませんでした。\n\nAmazon.co.jp\n")
LOOKALIKE = "auto-communication@amazon-seller-notices.com"
RELAY = "x7k2mq9pl3vb8nd@marketplace.amazon.com"


def order(n: int) -> str:
    return f"{111 + n % 800:03d}-{4455000 + n:07d}-{7788000 + n:07d}"


def text_of(lang: str, number: int) -> str:
    return JA.format(order=order(number)) if lang == "ja" else mail.body(lang, order(number))


def notice(lang: str, number: int, *, sender: str | None = None) -> EmailMessage:
    """A notice as Amazon sends it, in ``lang``, about order(number)."""
    msg = EmailMessage()
    msg["From"] = f"Amazon <{sender or AMAZON[lang]}>"
    msg["To"] = mail.SELLER
    msg["Subject"] = "Your message to a buyer could not be delivered"
    msg["Date"] = "Tue, 03 Mar 2026 09:14:02 +0000"
    msg["Message-ID"] = f"<n{number}-{lang}@amazon.example>"
    msg.set_content(text_of(lang, number), charset="iso-2022-jp" if lang == "ja" else "utf-8")
    return msg


def buyer_message(number: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Pat Buyer - Amazon Marketplace <{RELAY}>"
    msg["To"] = mail.SELLER
    msg["Subject"] = f"Inquiry from Amazon customer (Order: {order(number)})"
    msg.set_content(f"Hello, where is my order {order(number)}? I chose to opt out of unsolicited messages, "
                    "so we were unable to deliver anything else.\n")
    return msg


def batch(parts: list[EmailMessage | bytes | tuple[str, bytes]], *, note: str = "Notices attached.") -> bytes:
    """A seller's mail with each part attached: a message (message/rfc822), bytes as an .eml file
    sent as application/octet-stream, or (filename, bytes) as another file."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "Fwd: opt-outs"
    msg.set_content(note)
    for number, part in enumerate(parts):
        if isinstance(part, EmailMessage):
            msg.add_attachment(part)
        elif isinstance(part, bytes):
            msg.add_attachment(part, maintype="application", subtype="octet-stream", filename=f"notice-{number}.eml")
        else:
            name, data = part
            maintype, subtype = ("application", "pdf") if name.endswith(".pdf") else ("text", "plain")
            if maintype == "text":
                msg.add_attachment(data.decode(), subtype=subtype, filename=name)
            else:
                msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes(msg)
