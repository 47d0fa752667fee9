"""How a message came, for the seller's setup checklist: straight from Amazon, by a Gmail or an
Outlook forwarding rule, or forwarded by a person; a confirmation counts as Gmail."""

from __future__ import annotations

import pytest

import mail
from optout.recognise import parse
from samples import SAMPLES

NOTICE = mail.as_bytes(mail.notice("en", "112-4455667-7788990"))


@pytest.mark.parametrize("raw, route", [
    (NOTICE, "direct"),
    (mail.auto_forward(NOTICE), "gmail"),
    (mail.outlook_redirect(NOTICE), "outlook"),
    (b"Resent-From: sam@seller-shop.example\r\n" + NOTICE, "auto-forward"),
    (mail.wrap_attached(NOTICE), "by-hand"),
    (SAMPLES["en-gmail-inline-forward.eml"], "by-hand"),
    (SAMPLES["gmail-forwarding-confirmation.eml"], "gmail"),
    (SAMPLES["not-buyer-message.eml"], "buyer-relay"),  # Amazon relays it, a buyer wrote it
])
def test_route(raw: bytes, route: str) -> None:
    result = parse(raw)
    assert result.route == route, result
    assert "route" not in result.public()  # not part of `optout parse --json`
