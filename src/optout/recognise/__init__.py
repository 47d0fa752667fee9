"""Recognition: raw bytes of one email in, a ``Result`` out. No I/O, no database, never raises.

The message is read as *layers* (itself, attached messages, inline forwards, the whole text by
evidence), each judged by ``notice.judge``; every notice found is kept, one per order, each with
the part it came from (``Result.more`` holds all but the first): a seller clearing a backlog
sends many in one mail. Amazon's own notice, as sent or auto-forwarded, is read as itself only.
Layers inside a message whose outer sender is a buyer's relay alias are not trusted: a buyer can
type a fake forward block.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from optout.recognise import forwards, lists, mime, notice
from optout.recognise.result import CONFIRMATION, NOTICE, Result, other

__all__ = ["Result", "parse", "possible_notice"]

MAX_BYTES = 64 * 1024 * 1024
_AUTO_FORWARD_HEADERS = frozenset({"x-forwarded-to", "x-forwarded-for", "resent-from", "resent-sender",
                                   "x-sieve-redirected-from", "x-ms-exchange-inbox-rules-loop",
                                   "x-ms-exchange-organization-autoforwarded"})
# Who passed a message on, as forwarding rules and server-side redirects (Gmail, Resent-* of
# procmail and mutt's bounce, Sieve's redirect, Exchange's inbox rules) name it, first found first
_FORWARDER_HEADERS = ("X-Forwarded-For", "Resent-From", "Resent-Sender", "X-Sieve-Redirected-From",
                      "X-MS-Exchange-Inbox-Rules-Loop")
_SELLER_SIDE_HEADERS = ("From", "To", "Cc", "Reply-To", "Sender", "Delivered-To", "X-Forwarded-For",
                        "X-Forwarded-To", "Resent-From", "Resent-To", "X-Original-To")
_OUTLOOK_RULE_HEADERS = frozenset({"x-ms-exchange-inbox-rules-loop", "x-ms-exchange-organization-autoforwarded"})
# What Outlook (desktop, web, mobile) writes into a message a person sends or forwards
_OUTLOOK_CLIENT_HEADERS = frozenset({"thread-index", "x-ms-has-attach", "x-ms-tnef-correlator",
                                     "x-ms-exchange-messagesentrepresentingtype"})
_GMAIL_CODE = re.compile(r"\(#(\d{6,12})\)")
_BODY_CODE = re.compile(r"(?:confirmation code|code de confirmation|bestätigungscode)\s{0,8}:?\s{0,8}(\d{6,12})", re.I)
_GMAIL_LINK = re.compile(r"https://(?:mail-settings\.google\.com|mail\.google\.com)/\S+")
_REQUESTER = re.compile(r"(?<!\S)([^\s@]{1,64}@[^\s@]{1,255})[ \t]{1,8}has requested")


# An order ID's tail, found by its first hyphen: a pattern that starts with a literal byte is
# scanned for at memchr speed, where one starting with \d is tried at every byte (13 times
# slower on the mix, and 8 % of all recognition time). The lookahead keeps overlapping candidates.
_ORDER_TAIL = re.compile(rb"-(?=\d{7}-\d{7})")
_QP_SOFT_BREAK = re.compile(rb"=\r?\n|=\r")
_ENCODED_MARKS = (b"base64", b"BASE64", b"Base64", b"?b?", b"?B?")  # how mail spells them


def _encoded(raw: bytes) -> bool:
    """Might a base64 part or a B-encoded word hide text? (Plain substring tests: a
    case-insensitive regex over the whole message costs more than all the rest of the screen.)"""
    return any(mark in raw for mark in _ENCODED_MARKS)


@dataclass(slots=True)
class Layer:
    how: str
    sender: str | None
    subject: str
    text: str
    signed: bytes | Message | None  # what DKIM can verify for this layer (serialised lazily)
    sender_name: str | None = None  # a forward that names its sender without an address
    evidence: bool = False  # no parse named the sender: the nearest header block above the wording names it
    part: str = "message"  # where in the mail: message, attachment 2, inline 3, text file 1, html 1
    seller_side: frozenset[str] = frozenset()  # for evidence: the forwarding mail's own addresses


def parse(raw: bytes) -> Result:
    """What this message is. Any failure inside becomes ``other`` with its reason."""
    if len(raw) > MAX_BYTES:
        return other(f"too large to examine ({len(raw)} bytes)")
    if not _worth_reading(raw):
        return other("no order ID")
    try:
        return _parse(raw)
    except RecursionError:
        return other("nested too deeply to examine")
    except Exception as exc:  # malformed beyond what the parser tolerates: keep, don't crash
        return other(f"unparseable: {type(exc).__name__}")


def _worth_reading(raw: bytes) -> bool:
    """A cheap screen on the raw bytes, so most non-notices cost no MIME parse.

    A notice carries an order ID in its text. Quoted-printable soft breaks are joined first;
    base64 parts and encoded words can hide one, so those are always read in full, and so is
    anything from Google (forwarding verifications carry no order ID).
    """
    if _has_order_id(raw) or b"google.com" in raw or _encoded(raw):
        return True
    if b"=\n" in raw or b"=\r" in raw:
        return _has_order_id(_QP_SOFT_BREAK.sub(b"", raw))
    return False


def _has_order_id(raw: bytes) -> bool:
    """Whether ``raw`` holds ``\\d{3}-\\d{7}-\\d{7}`` (as the regex would find it, faster)."""
    for found in _ORDER_TAIL.finditer(raw):
        start = found.start()
        if start >= 3 and raw[start - 3:start].isdigit():
            return True
    return False


def _parse(raw: bytes) -> Result:
    if b"\n" not in raw[:65536] and b"\r" in raw:  # bare CR line ends (old Mac clients, some gateways)
        raw = raw.replace(b"\r", b"\r\n")
    msg = mime.load(raw)
    sender = mime.address(mime.header(msg, "From"))
    subject = mime.header(msg, "Subject")
    confirmation = _confirmation(msg, sender, subject)
    if confirmation:
        return confirmation
    sender, how, forwarded_by, redistributed, names = _arrival(msg, sender)
    mailing = None if redistributed is not None else _mailing(msg)
    found = _Found(forwarded_by, _route(msg, how, names))
    for layer in _layers(msg, raw, how, sender, subject):
        found.judge(layer, mailing)
        if found.notices and layer.part == "message" and how in ("direct", "auto-forward"):
            break  # Amazon's own notice, as sent or auto-forwarded: one notice, nothing inside it to read
    if not found.notices and (html := mime.html_text(msg)) and _names_nobody(found, seller_side := _seller_side(msg)):
        for layer in _text_layers(html, subject, seller_side, how="inline-forward", part="html"):
            found.judge(layer, mailing)
    return found.result()


def _signed(signed: bytes | Message | None) -> bytes | None:
    """The bytes DKIM can verify for a layer: an attached message is written back out only when
    it carries a signature (writing costs more than recognising it)."""
    if isinstance(signed, Message):
        return mime.as_bytes(signed) if signed.get("DKIM-Signature") is not None else None
    return signed


def _names_nobody(found: _Found, seller_side: frozenset[str]) -> bool:
    """Does the text read so far name nobody but the seller's side? Then the HTML alternative is
    read too: Outlook can write the forwarded header block into its HTML part alone. (Where the
    plain text names a sender, the HTML part cannot overrule it.)"""
    text = found.layers[0].text if found.layers else ""
    return "@" not in text or set(mime.addresses(text)) <= seller_side


class _Found:
    """What the layers of one mail were judged to be: its notices, one per order, and why the
    layers that were not notices were refused."""

    def __init__(self, forwarded_by: str | None, route: str) -> None:
        self.forwarded_by, self.route = forwarded_by, route
        self.notices: list[Result] = []
        self.failures: list[notice.Verdict] = []
        self.layers: list[Layer] = []

    def judge(self, layer: Layer, mailing: str | None) -> None:
        self.layers.append(layer)
        verdicts = (notice.judge_by_evidence(layer.subject, layer.text, seller_side=layer.seller_side)
                    if layer.evidence else
                    [notice.judge(layer.sender, layer.subject, layer.text, sender_name=layer.sender_name)])
        for index, verdict in enumerate(verdicts, 1):
            if verdict.ok and mailing and layer.how in ("direct", "auto-forward"):
                verdict = notice.Verdict(False, f"a mailing ({mailing}) quoting the notice's wording, not a notice "
                                                "about one order", wording=True)
            if verdict.ok:
                self._add(verdict, layer, f"{layer.part} {index}" if len(verdicts) > 1 else layer.part)
            elif not layer.evidence or not any(v.wording for v in self.failures):
                self.failures.append(verdict)  # a parse's own refusal says more than the evidence's

    def _add(self, verdict: notice.Verdict, layer: Layer, part: str) -> None:
        """A notice, unless one about the same order was found already (the same notice seen
        through two layers: an attached original and its inline copy, a parse and the evidence)."""
        same = next((n for n in self.notices if n.order_id == verdict.order_id), None)
        if same is not None:
            same.buyer_email = same.buyer_email or verdict.buyer_email
            return
        self.notices.append(Result(
            kind=NOTICE, reason=verdict.reason, order_id=verdict.order_id, buyer_email=verdict.buyer_email,
            marketplace=verdict.marketplace, language=verdict.language, how=layer.how,
            forwarded_by=self.forwarded_by if layer.how != "direct" else None,
            signed_bytes=_signed(layer.signed),
            sender=layer.sender or verdict.sender, route=self.route,
            wording=f"taught:{verdict.taught}" if verdict.taught else f"builtin:{verdict.language}", part=part,
        ))

    def result(self) -> Result:
        if self.notices:
            first, *more = self.notices
            first.more = more
            return first
        return self._refusal()

    def _refusal(self) -> Result:
        """Why nothing here is a notice: the innermost layer that had the wording says it best."""
        best = next((v for v in reversed(self.failures) if v.wording), None)
        if best is None:
            possible = next((layer for layer in self.layers if not layer.evidence and notice.possible_unknown_language(
                layer.sender, layer.subject, layer.text)), None)
            if possible is not None:
                result = other(notice.UNKNOWN_LANGUAGE, forwarded_by=self.forwarded_by, route=self.route)
                result.group, result.marketplace = notice.group_of(possible.text), notice.amazon_domain(possible.sender)
                return result
            lookalike = next((t for layer in self.layers if (t := notice.taught_lookalike(notice.flat(layer.text)))),
                             None)
            if lookalike is not None:
                return other(f"a look-alike the operator taught (wording {lookalike.id}): not an opt-out notice",
                             forwarded_by=self.forwarded_by, route=self.route)
        best = best or (self.failures[0] if self.failures else None)
        return other(best.reason if best else "no text to examine", forwarded_by=self.forwarded_by, route=self.route)


def possible_notice(raw: bytes) -> Layer | None:
    """The layer of ``raw`` that is a possible notice in an unknown language (from an Amazon
    notice sender, one order ID), for learning its wording; None if it has none."""
    try:
        msg = mime.load(raw)
        sender, subject = mime.address(mime.header(msg, "From")), mime.header(msg, "Subject")
        sender, how, *_ = _arrival(msg, sender)
        return next((layer for layer in _layers(msg, raw, how, sender, subject)
                     if not layer.evidence and notice.possible_unknown_language(layer.sender, layer.subject, layer.text)),
                    None)
    except Exception:  # as parse: a message beyond the parser has no wording to learn
        return None


def _arrival(msg: Message, sender: str | None,
             ) -> tuple[str | None, str, str | None, lists.Origin | None, frozenset[str]]:
    """How the mail arrived: (its author, where a list passed it on; how it came; who passed it
    on; the list, if one; its header names in lower case, read once for every question)."""
    names = frozenset(name.lower() for name in msg.keys())
    redistributed = lists.origin(msg, sender, names=names)
    if redistributed is not None:
        sender = redistributed.author
    how, forwarded_by = _delivery(msg, sender, redistributed, names)
    return sender, how, forwarded_by, redistributed, names


def _delivery(msg: Message, sender: str | None, redistributed: lists.Origin | None,
              names: frozenset[str]) -> tuple[str, str | None]:
    """How the message came (before looking inside it) and which seller address passed it on:
    the forwarding rule, the server-side redirect or the list that names itself in the headers."""
    if not names.isdisjoint(_AUTO_FORWARD_HEADERS):
        via = next((found for name in _FORWARDER_HEADERS if (found := mime.addresses(mime.header(msg, name)))), None)
        via = via or (redistributed and [redistributed.via]) or mime.addresses(mime.header(msg, "To"))
        return "auto-forward", via[0] if via else None
    if redistributed is not None:
        return ("auto-forward" if notice.amazon_domain(sender) else "forward"), redistributed.via
    if notice.is_buyer_relay(sender):
        return "buyer-relay", None  # Amazon relays it, but a buyer wrote it
    if notice.amazon_domain(sender):
        return "direct", None
    return "forward", sender


def _route(msg: Message, how: str, names: frozenset[str]) -> str:
    """The route for the seller's setup checklist: which forwarding rule passed it on (Exchange
    marks what its rules send, Gmail adds X-Forwarded-For/-To), else direct or by a person."""
    if not names.isdisjoint(_OUTLOOK_RULE_HEADERS):
        return "outlook"
    if "x-forwarded-for" in names or "x-forwarded-to" in names:
        return "gmail"
    if how in ("direct", "auto-forward", "buyer-relay"):
        return how
    if not names.isdisjoint(_OUTLOOK_CLIENT_HEADERS) or "outlook" in mime.header(msg, "X-Mailer").lower():
        return "outlook-hand"  # forwarded by a person from Outlook: its card on the checklist shows it
    return "by-hand"


def _mailing(msg: Message) -> str | None:
    """Which header marks a message as a mailing to many (a newsletter), or None. Amazon sends a
    notice to one seller about one order; its newsletters carry List-Unsubscribe. (Marks that a
    list or group added when it passed a mail on are not Amazon's: see ``lists.origin``.)"""
    for name in ("List-Unsubscribe", "List-Id"):
        if msg.get(name) is not None:
            return name
    precedence = str(msg.get("Precedence", "")).strip().lower()
    return f"Precedence: {precedence}" if precedence in ("bulk", "list") else None


def _seller_side(msg: Message) -> frozenset[str]:
    """The addresses the forwarding mail names as its own (its sender, recipients, the
    forwarder): in a forwarded header block they are recipients, never the notice's sender.
    Amazon's are left out: an auto-forward keeps Amazon's From."""
    found = {address for name in _SELLER_SIDE_HEADERS for address in mime.addresses(mime.header(msg, name))}
    return frozenset(address for address in found if not notice.amazon_domain(address))


def _layers(msg: Message, raw: bytes, how: str, sender: str | None, subject: str) -> Iterator[Layer]:
    text = mime.body_text(msg)
    yield Layer(how, sender, subject, text, raw, part="message")
    if notice.is_buyer_relay(sender):
        return
    for number, attached in enumerate(mime.attached_messages(msg), 1):
        yield from _attached(attached, part=f"attachment {number}")
    if how == "direct":
        yield from _inline(text, subject)
        return
    seller_side = _seller_side(msg)  # asked here: a direct notice, the common case, never needs it
    yield from _text_layers(text, subject, seller_side, how="inline-forward", part="inline")
    for number, saved in enumerate(mime.attached_texts(msg), 1):  # a notice saved as a .txt file and attached
        yield Layer("attachment", None, subject, saved, None, evidence=True, part=f"text file {number}",
                    seller_side=seller_side)


def _text_layers(text: str, subject: str, seller_side: frozenset[str], *, how: str, part: str) -> Iterator[Layer]:
    """The forwards written inline in ``text``, then the whole text read by evidence (a forward
    whose header block no parse understood: recognise/evidence.py), unless a buyer's message
    stands in it."""
    inline = list(_inline(text, subject, how=how, part=part))
    yield from inline
    if any(notice.is_buyer_relay(layer.sender) for layer in inline):
        return
    yield Layer(how, None, subject, text, None, evidence=True, part=part, seller_side=seller_side)


def _attached(msg: Message, depth: int = 0, *, part: str) -> Iterator[Layer]:
    sender = mime.address(mime.header(msg, "From"))
    subject = mime.header(msg, "Subject")
    text = mime.body_text(msg)
    yield Layer("attachment", sender, subject, text, msg, part=part)
    if notice.amazon_domain(sender) or depth >= mime.MAX_DEPTH:
        return  # Amazon's own mail (a notice, a buyer's relayed message) forwards nothing inside it
    for number, inner in enumerate(mime.attached_messages(msg), 1):
        yield from _attached(inner, depth + 1, part=f"{part}.{number}")
    yield from _inline(text, subject, how="attachment", part=part)


def _inline(text: str, subject: str, how: str = "inline-forward", part: str = "inline") -> Iterator[Layer]:
    for number, section in enumerate(forwards.sections(text), 1):
        if notice.is_buyer_relay(section.sender):
            return  # nothing inside a buyer's own message is trusted
        yield Layer(how, section.sender, section.subject or subject, section.text, None, section.sender_name,
                    part=f"{part} {number}")


def _confirmation(msg: Message, sender: str | None, subject: str) -> Result | None:
    """Gmail's (or Google Workspace's) forwarding verification, with its code."""
    if not sender or not sender.endswith("@google.com") or "forwarding" not in subject.lower():
        return None
    body = mime.body_text(msg)
    code = _BODY_CODE.search(body) or _GMAIL_CODE.search(subject)
    if not code:
        return None
    link = _GMAIL_LINK.search(body)
    requester = _REQUESTER.search(body)
    return Result(
        kind=CONFIRMATION, reason="Gmail forwarding verification", confirmation_code=code[1],
        confirmation_link=link[0] if link else None, how="direct", route="gmail",
        forwarded_by=requester[1].lower() if requester else None, sender=sender,
    )
