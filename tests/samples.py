"""The sample messages the tests share, built here so a clone of the repository alone can run
them: a notice in each form a seller's mail takes, a Gmail forwarding verification and a buyer's
message that must not count. ``SAMPLES`` maps a file name to its bytes, ``EXPECTED`` to what
recognition must find in it.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

from mail import SELLER, as_bytes, auto_forward, notice

INGEST_PLAIN = "optout@ingest.example.net"


def _en_direct() -> bytes:
    return as_bytes(notice("en", "112-4455667-7788990", to=SELLER, msgid="<en-direct-0001@amazon.com>"))


def _fr_direct() -> bytes:
    return as_bytes(notice("fr", "403-4565603-0457311", to=SELLER, cte="quoted-printable",
                           msgid="<fr-direct-0001@amazon.fr>"))


def _de_auto_forward() -> bytes:
    original = notice("de", "302-1234567-7654321", buyer="k3v9xq2mz7p4w1r@marketplace.amazon.de",
                      to="Hans Händler <hans@haendler.example>", cte="base64", msgid="<de-autofwd-0001@amazon.de>")
    return auto_forward(as_bytes(original), seller="hans@haendler.example")


def _en_gmail_inline() -> bytes:
    """Gmail's inline forward, plain and HTML alternatives, quoted-printable."""
    block = ("---------- Forwarded message ---------\n"
             "From: Amazon Seller Central <seller-notification@amazon.com>\n"
             "Date: Fri, Mar 6, 2026 at 11:58 AM\n"
             "Subject: Your message to a buyer could not be delivered\n"
             f"To: <{SELLER}>\n\n\n")
    text = ("Dear Seller,\n\nWe were unable to deliver the message you sent for order 114-9081726-3545463 "
            "because the buyer has chosen to opt out of receiving unsolicited messages from sellers.\n\n"
            "Sincerely,\nSeller Support\n")
    msg = EmailMessage()
    msg["From"] = f"Sam Seller <{SELLER}>"
    msg["To"] = INGEST_PLAIN
    msg["Subject"] = "Fwd: Your message to a buyer could not be delivered"
    msg["Message-ID"] = "<CAF-inline-fwd-0001@mail.gmail.com>"
    msg.set_content("FYI\n\n" + block + text, cte="quoted-printable")
    markup = ('<div dir="ltr">FYI<br><br><div class="gmail_quote"><div class="gmail_attr">'
              "---------- Forwarded message ---------<br>From: <strong class=\"gmail_sendername\">Amazon "
              'Seller Central</strong> <span>&lt;<a href="mailto:seller-notification@amazon.com">'
              "seller-notification@amazon.com</a>&gt;</span><br>Date: Fri, Mar 6, 2026 at 11:58 AM<br>"
              "Subject: Your message to a buyer could not be delivered<br>To: &lt;"
              f'<a href="mailto:{SELLER}">{SELLER}</a>&gt;<br></div><br><br>'
              + text.replace("\n", "<br>") + "</div></div>")
    msg.add_alternative(markup, subtype="html", cte="quoted-printable")
    return as_bytes(msg)


def gmail_confirmation(code: str = "418230771", requester: str = SELLER, to: str = INGEST_PLAIN) -> bytes:
    """Gmail's forwarding verification, as forwarding-noreply@google.com sends it."""
    msg = EmailMessage()
    msg["From"] = "Gmail Team <forwarding-noreply@google.com>"
    msg["To"] = to
    msg["Subject"] = f"(#{code}) Gmail Forwarding Confirmation - Receive Mail from {requester}"
    msg["Message-ID"] = f"<gmail-confirm-{code}@google.com>"
    msg.set_content(
        f"{requester} has requested to automatically forward mail to your email\naddress {to}.\n"
        f"Confirmation code: {code}\n\nTo allow {requester} to automatically forward mail to your "
        "address, please click the link below to confirm the request:\n\n"
        f"https://mail-settings.google.com/mail/vf-%5BANGjdJ-{code}%5D-example\n\n"
        "If you click the link and it appears to be broken, please copy and paste it\n"
        "into a new browser window.\n", cte="quoted-printable")
    return as_bytes(msg)


def buyer_message() -> bytes:
    """A buyer's own message relayed by Amazon: it says "opted out", and lists no one."""
    msg = EmailMessage()
    msg["From"] = "Pat Buyer - Amazon Marketplace <r8t2m5n1c7v3b9x@marketplace.amazon.com>"
    msg["To"] = SELLER
    msg["Subject"] = "Inquiry from Amazon customer Pat Buyer (Order: 113-5550001-2223334)"
    msg["Message-ID"] = "<buyer-msg-0001@marketplace.amazon.com>"
    msg.set_content("------------- Begin message -------------\n\nHi, I opted out of marketing email, "
                    "please do not send me more messages about reviews.\n\n"
                    "------------- End message -------------\n\nOrder ID: 113-5550001-2223334\n",
                    cte="quoted-printable")
    return as_bytes(msg)


SAMPLES: dict[str, bytes] = {
    "en-direct.eml": _en_direct(),
    "fr-direct.eml": _fr_direct(),
    "de-gmail-autoforward.eml": _de_auto_forward(),
    "en-gmail-inline-forward.eml": _en_gmail_inline(),
    "gmail-forwarding-confirmation.eml": gmail_confirmation(),
    "not-buyer-message.eml": buyer_message(),
}
EXPECTED: dict[str, dict[str, str | None]] = {
    "en-direct.eml": {"kind": "optout_notice", "order_id": "112-4455667-7788990", "buyer_email": None},
    "fr-direct.eml": {"kind": "optout_notice", "order_id": "403-4565603-0457311", "buyer_email": None},
    "de-gmail-autoforward.eml": {"kind": "optout_notice", "order_id": "302-1234567-7654321",
                                 "buyer_email": "k3v9xq2mz7p4w1r@marketplace.amazon.de"},
    "en-gmail-inline-forward.eml": {"kind": "optout_notice", "order_id": "114-9081726-3545463",
                                    "buyer_email": None},
    "gmail-forwarding-confirmation.eml": {"kind": "forwarding_confirmation", "confirmation_code": "418230771"},
    "not-buyer-message.eml": {"kind": "other", "order_id": None},
}


def write(folder: Path) -> Path:
    """The samples as .eml files (and expected.json) in ``folder``; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in SAMPLES.items():
        (folder / name).write_bytes(raw)
    (folder / "expected.json").write_text(json.dumps(EXPECTED, indent=2))
    return folder
