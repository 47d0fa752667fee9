"""Mail a list or group passed on: who wrote it, and which list passed it.

A shared ``sellers@`` address is often a Google Group, a Microsoft 365 group or a Mailman list.
When the author's domain publishes a strict DMARC policy (Amazon's does), Google Groups and
Mailman rewrite ``From:`` to the list's own address ("'Amazon' via Sellers <sellers@…>") and keep
the author in ``X-Original-From`` or ``Reply-To``; Mailman may instead wrap the whole original as
an attached ``message/rfc822`` (read like any attached message). Every list adds ``List-Id``,
``List-Unsubscribe`` and ``Precedence: list``: those are the list's marks, not the marks of an
Amazon newsletter, so recognition sets them aside for mail a list redistributed.

A list is told by ``List-Id`` or ``List-Post`` naming a domain that is not Amazon's: Amazon's own
mailings carry their own list headers and stay mailings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from optout.recognise import mime, notice

_LIST_DOMAIN = re.compile(r"[\w.-]+\.[a-z]{2,}", re.I)


@dataclass(frozen=True, slots=True)
class Origin:
    author: str | None  # who wrote the mail the list passed on
    via: str  # the list: its posting address, or its List-Id


def origin(msg: Message, sender: str | None, *, names: frozenset[str] | None = None) -> Origin | None:
    """Who wrote ``msg`` and which list passed it on; None when no list did (``sender`` is the
    address of its From header; ``names``, its header names in lower case, if known already)."""
    if names is not None and "list-id" not in names and "list-post" not in names:
        return None  # most mail: no list passed it on, and no header need be read
    list_id, post = mime.header(msg, "List-Id"), mime.header(msg, "List-Post")
    if not list_id and not post:
        return None
    posting = next(iter(mime.addresses(post)), None)
    domain = _domain(list_id) or (posting.rsplit("@", 1)[1] if posting else None)
    if domain is None or notice.amazon_domain(f"x@{domain}"):
        return None  # Amazon's own mailing: its marks stand
    rewritten = _rewritten(msg, sender, posting)
    author = mime.address(mime.header(msg, "X-Original-From"))
    if author is None and rewritten:
        author = mime.address(mime.header(msg, "Reply-To"))
    return Origin(author or sender, posting or (sender if rewritten and sender else None) or domain)


def _domain(list_id: str) -> str | None:
    """The domain a ``List-Id`` (``Sellers <sellers.shop.example>``) names, lower case."""
    inside = list_id[list_id.rfind("<") + 1:].rstrip("> ") if "<" in list_id else list_id
    found = _LIST_DOMAIN.search(inside)
    return found[0].lower() if found else None


def _rewritten(msg: Message, sender: str | None, posting: str | None) -> bool:
    """Did the list put its own address in From (the DMARC mitigation)? It names itself there,
    or says "via" the list in the display name."""
    name = mime.header(msg, "From").lower()
    return bool(sender and (sender == posting or " via " in name))
