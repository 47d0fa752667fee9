"""Deciding whether one layer of a message is an Amazon opt-out notice.

A *layer* is one message as its original sender wrote it: the message itself (sent direct or
auto-forwarded with its headers kept), a message attached to it, or a message forwarded inline.
A layer is a notice when all of these hold:

- its original sender is at an Amazon domain (``amazon.<tld>`` or a subdomain), and is not a
  buyer's relay alias (``…@marketplace.amazon.<tld>``): buyers' messages are never notices;
- its text says, in one of the languages in ``phrases.toml``, that the message could not be
  delivered because the buyer opted out of unsolicited messages (every group of that
  language's ``meaning`` within one short stretch);
- an order ID stands in that stretch, or failing that in the subject.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from optout.identifiers import BUYER_ALIAS, ORDER_ID
from optout.recognise import evidence, forwards, wordings

_DATA = tomllib.loads((Path(__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))
_TLDS = (
    "com|co\\.uk|de|fr|it|es|ca|com\\.mx|co\\.jp|jp|in|com\\.au|nl|se|pl|com\\.tr|ae|sa|sg|"
    "com\\.br|com\\.be|eg|cn|ie|at|ch|co\\.za|com\\.ng"
)
_AMAZON = re.compile(rf"(?:^|\.)(amazon\.(?:{_TLDS}))$")
_RELAY = re.compile(rf"^[a-z0-9]{{15}}@marketplace\.amazon\.(?:{_TLDS})$")
_WINDOW = 600  # characters: the stretch one notice sentence and its order ID fit in


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    groups: tuple[tuple[str, ...], ...]


_NAMES = frozenset(_DATA["amazon_names"]["names"])


def flat(text: str) -> str:
    """``text`` as wordings are compared: lower case, quote markers gone, white space collapsed."""
    return _normalise(text)


def _normalise(text: str) -> str:
    # quote markers of re-wrapped replies would split a phrase ("unable to\n> deliver")
    text = text.lower()
    if ">" in text:
        text = forwards.unquote(text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u00ad", "")
    return " ".join(text.split())  # collapses every run of white space, NBSP included


def amazon_name(name: str | None) -> bool:
    """Is ``name`` a display name Amazon sends notices under ("Amazon Seller Central", …)?"""
    return name is not None and " ".join(name.lower().strip(" \"'").split()) in _NAMES


# Words that find each built-in language's notices in a mailbox search, by language code
GMAIL_WORDS = {code: tuple(entry.get("gmail", ())) for code, entry in _DATA["languages"].items()}

LANGUAGES = tuple(
    Language(code, tuple(tuple(_normalise(p) for p in group) for group in entry["meaning"]))
    for code, entry in _DATA["languages"].items()
)


def amazon_domain(sender: str | None) -> str | None:
    """``amazon.de`` for ``donotreply@amazon.de`` (or a subdomain); None for anything else."""
    if not sender or "@" not in sender:
        return None
    match = _AMAZON.search(sender.rsplit("@", 1)[1].lower())
    return match[1] if match else None


def is_buyer_relay(sender: str | None) -> bool:
    return bool(sender and _RELAY.match(sender.lower()))


@dataclass(slots=True)
class Verdict:
    ok: bool
    reason: str
    order_id: str | None = None
    buyer_email: str | None = None
    marketplace: str | None = None
    language: str | None = None
    wording: bool = False  # the opt-out wording was there, whatever else failed
    taught: int | None = None  # the taught wording that matched, if one did
    sender: str | None = None  # the sender it was judged as coming from


def judge(sender: str | None, subject: str, text: str, *, sender_name: str | None = None) -> Verdict:
    """Is this layer, as its sender wrote it, an opt-out notice? ``sender_name`` is the sender's
    display name where a forward gives no address (then it must be a name Amazon uses)."""
    flat = _normalise(text)
    found = _wording(flat)
    if found is None:
        return _judged_taught(sender, flat) if wordings.current() else Verdict(False, "no opt-out wording")
    return _judged(sender, subject, text, flat, found, sender_name)


def _judged_taught(sender: str | None, flat: str) -> Verdict:
    """A wording the operator taught: believed only from an address Amazon sends notices from,
    and only for a text with exactly one order ID (a taught wording is a sample's sentence, so
    it is held to more than the built-in ones)."""
    taught = wordings.match(flat, "notice")
    if taught is None:
        return Verdict(False, "no opt-out wording")
    if not notice_sender(sender):
        who = sender.rsplit("@", 1)[1] if sender and "@" in sender else "unknown"
        return Verdict(False, f"a taught wording ({taught.id}), but the sender ({who}) is not an Amazon notice "
                              "sender", wording=True)
    ids = set(ORDER_ID.findall(flat))
    if len(ids) != 1:
        return Verdict(False, f"a taught wording ({taught.id}), but {len(ids)} different order IDs", wording=True)
    domain = amazon_domain(sender)
    return Verdict(True, f"opt-out notice ({taught.language}, taught wording {taught.id}) from {domain}",
                   ids.pop(), None, domain, taught.language, wording=True, taught=taught.id)


def notice_sender(sender: str | None) -> bool:
    """Is ``sender`` an address Amazon sends notices from (auto-communication@amazon.de …)?"""
    return bool(sender and amazon_domain(sender) and not is_buyer_relay(sender)
                and sender.split("@", 1)[0].lower() in _NOTICE_SENDERS)

def judge_by_evidence(subject: str, text: str, *, seller_side: Collection[str] = ()) -> list[Verdict]:
    """Every notice in a text whose header blocks nobody could parse (notices pasted one after
    another, layouts no parser models): for each stretch with the wording, the sender of the
    nearest header block above it (``evidence.sender_before``) stands for its sender, and must be
    an address Amazon sends notices from. Stretches under the same block are one notice; each
    notice's order ID and buyer are looked for only between its block and the next one's."""
    flat = _normalise(evidence.unglue(text))
    stretches = _stretches(flat)
    found = [(evidence.sender_before(flat, stretch[3], seller_side=seller_side,
                                     floor=stretches[index - 1][3] if index else 0), stretch)
             for index, stretch in enumerate(stretches)]
    if not found:
        return [Verdict(False, "no opt-out wording")]
    notices = [(sender, stretch) for index, (sender, stretch) in enumerate(found)
               if sender.address is None or all(sender.at != earlier.at for earlier, _ in found[:index])]
    verdicts = []
    for index, (sender, stretch) in enumerate(notices):
        after = next((s.at for s, _ in notices[index + 1:] if s.at > stretch[3]), len(flat))
        verdicts.append(_judged_by_evidence(sender, subject, text, flat, stretch, after))
    return verdicts


def _judged_by_evidence(sender: evidence.Sender, subject: str, text: str, flat: str,
                        stretch: tuple[str, int, int, int], after: int) -> Verdict:
    if sender.address is None:
        return Verdict(False, f"opt-out wording, but {sender.why}", wording=True)
    if not notice_sender(sender.address):
        domain = sender.address.rsplit("@", 1)[1]
        return Verdict(False, f"opt-out wording, but the nearest sender before it ({domain}) is not an Amazon "
                              "notice sender", wording=True)
    language, lo, hi, anchor = stretch
    own = (language, max(lo, sender.end), min(hi, after), anchor)
    verdict = _judged(sender.address, subject, text, flat, own, None, buyer_text=flat[sender.end:after])
    if verdict.ok:
        verdict.reason += ", its sender found above the notice's text"
        verdict.sender = sender.address
    return verdict


def _judged(sender: str | None, subject: str, text: str, flat: str, found: tuple[str, int, int, int],
            sender_name: str | None, *, buyer_text: str | None = None) -> Verdict:
    language, start, end, anchor = found
    if is_buyer_relay(sender):
        return Verdict(False, "a buyer's message relayed by Amazon", wording=True)
    domain = amazon_domain(sender)
    by_name = sender is None and amazon_name(sender_name)
    if domain is None and not by_name:
        who = sender.rsplit("@", 1)[1] if sender and "@" in sender else (sender_name or "unknown")
        return Verdict(False, f"opt-out wording, but the sender ({who}) is not Amazon", wording=True)
    ids = set(ORDER_ID.findall(flat[start:end]))
    if len(ids) > 1:
        # A notice is about one order. Two in its text is a seller's note, a digest or a mistake:
        # listing both could list a buyer who never opted out, listing one is a guess.
        return Verdict(False, "two different order IDs in the notice's text (a notice names one order): "
                              "kept for review; list the right one with optout add", wording=True)
    order_id = _single(list(ids)) or _single(ORDER_ID.findall(subject))
    if order_id is None:
        return Verdict(False, "opt-out wording from Amazon, but no order ID", wording=True)
    example = _example(flat, anchor, order_id)
    if example:
        return Verdict(False, f"the notice's wording quoted with an example order ID ({example}), not a notice "
                              "about one order", wording=True)
    buyer = _buyer(text if buyer_text is None else buyer_text, sender)
    marketplace = buyer.split("@marketplace.", 1)[1] if buyer else domain
    source = domain or f"{sender_name!r} (a name only, no address)"
    return Verdict(True, f"opt-out notice ({language}) from {source}", order_id, buyer,
                   marketplace, language, wording=True)


UNKNOWN_LANGUAGE = "possible notice in an unknown language"
_NOTICE_SENDERS = frozenset(_DATA["unknown_language"]["senders"])
_LOOKALIKES = tuple(_DATA["unknown_language"]["lookalikes"])
LOOKALIKE_PHRASES = _LOOKALIKES  # what a taught notice wording must not contain


def possible_unknown_language(sender: str | None, subject: str, text: str) -> bool:
    """Mail from an address that sends these notices, with exactly one order ID, that matches no
    known wording and no known look-alike: most likely a notice from a marketplace whose wording
    phrases.toml lacks. Kept apart so an operator sees the gap (then `quarantine retry --all`)."""
    if not sender or amazon_domain(sender) is None or sender.split("@", 1)[0] not in _NOTICE_SENDERS:
        return False
    if is_buyer_relay(sender):
        return False
    flat = _normalise(subject + "\n" + text)
    if any(phrase in flat for phrase in _LOOKALIKES) or taught_lookalike(flat):
        return False
    return len(set(ORDER_ID.findall(flat))) == 1


def taught_lookalike(flat: str) -> wordings.Taught | None:
    """A look-alike the operator taught ("this is something else") that ``flat`` matches."""
    return wordings.match(flat, "lookalike") if wordings.current() else None


def group_of(text: str) -> str | None:
    """The signature of a possible notice's text: what its group shares (``wordings.signature``)."""
    lowered = text.lower().replace("\r", "\n")
    if ">" in lowered:
        lowered = forwards.unquote(lowered)
    return wordings.signature(lowered.replace("\u2019", "'").replace("\u2018", "'").replace("\u00ad", ""))


def _wording(flat: str) -> tuple[str, int, int, int] | None:
    """(language, start, end, anchor) of the first stretch carrying every group of one language;
    ``anchor`` is where its first group's phrase stands."""
    for language in LANGUAGES:
        first = language.groups[0]
        for anchor in _positions(flat, first):
            found = _stretch(flat, language, anchor)
            if found:
                return found
    return None


def _stretches(flat: str) -> list[tuple[str, int, int, int]]:
    """Every stretch carrying every group of one language, in the text's order (a mail can hold
    many notices)."""
    found = [stretch for language in LANGUAGES for anchor in _positions(flat, language.groups[0])
             if (stretch := _stretch(flat, language, anchor))]
    return sorted(found, key=lambda stretch: stretch[3])


def _stretch(flat: str, language: Language, anchor: int) -> tuple[str, int, int, int] | None:
    lo, hi = max(0, anchor - _WINDOW), anchor + _WINDOW
    window = flat[lo:hi]
    if all(any(p in window for p in group) for group in language.groups[1:]):
        return language.code, lo, hi, anchor
    return None


# Placeholder order IDs that help pages and newsletters print, and what frames a quoted example.
_PLACEHOLDER = re.compile(r"(\d)\1\1-\1{7}-\1{7}|123-1234567-1234567|123-4567890-1234567|012-3456789-0123456")
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s)|\n\n")
_EXAMPLE_WORDS = tuple(_DATA["examples"]["framing"])


def _example(flat: str, anchor: int, order_id: str) -> str | None:
    """Why this looks like a quoted example rather than a notice, or None: a placeholder ID,
    example framing ("for example", "such as" …) just before the sentence or the ID, or the
    sentence opened by a quotation mark."""
    if _PLACEHOLDER.fullmatch(order_id):
        return f"{order_id} is a placeholder"
    at = flat.find(order_id)
    for where in (anchor, at):
        before = flat[max(0, where - 160):where]
        if any(word in before for word in _EXAMPLE_WORDS):
            return "framed as an example"
    if _opened_quote(_sentence_before(flat, min(anchor, at) if at >= 0 else anchor)):
        return "the sentence is quoted"
    return None


def _sentence_before(flat: str, at: int) -> str:
    """The text from the start of the sentence holding ``at`` up to it (at most 300 characters):
    a quotation that opens there and is still open at ``at`` quotes the sentence. (German puts
    the order ID, and the wording after it, a long way into its sentence.)"""
    lo = max(0, at - 300)
    ends = [m.end() for m in _SENTENCE_END.finditer(flat, lo, at)]
    return flat[ends[-1] if ends else lo:at]


def _opened_quote(before: str) -> bool:
    """Does a quotation opened in ``before`` stay open up to the wording?"""
    if before.count('"') % 2 or before.count("'") % 2 and re.search(r"(?:^|\s)'", before):
        return True
    for opening, closing in (("“", "”"), ("„", "“"), ("«", "»"), ("「", "」"), ("『", "』")):
        at = before.rfind(opening)
        if at >= 0 and closing not in before[at + 1:]:
            return True
    return False


def _positions(flat: str, phrases: tuple[str, ...]) -> list[int]:
    found: list[int] = []
    for phrase in phrases:
        start = flat.find(phrase)
        while start != -1 and len(found) < 200:
            found.append(start)
            start = flat.find(phrase, start + 1)
    return sorted(found)


def _order_id(flat: str, start: int, end: int) -> str | None:
    return _single(ORDER_ID.findall(flat[start:end]))


def _single(ids: list[str]) -> str | None:
    """The order ID when there is exactly one distinct; None when none or several disagree."""
    distinct = set(ids)
    return ids[0] if len(distinct) == 1 else None


def _buyer(text: str, sender: str | None) -> str | None:
    """The buyer's relay alias shown in the notice (a quoted original's To:, say), if one."""
    if "@marketplace.amazon." not in text.lower():  # cheap test before the regex
        return None
    aliases = {a.lower() for a in BUYER_ALIAS.findall(text)} - {(sender or "").lower()}
    return aliases.pop() if len(aliases) == 1 else None
