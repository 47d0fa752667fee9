"""Who sent a forwarded notice, by evidence rather than by one parse.

Forwards come in layouts nobody has catalogued: an attribution with no verb (GroupWise's
``>>> "Name" <addr> 2/21/2026 >>>``, Yandex's ``05.05.2026, 14:06, "Amazon" <addr>:``), header
fields run together on one line, labels and values in separate table cells, a mailto link, labels
in an interface language no catalogue holds. What they share: the original sender's address
stands in the *header block* nearest above the notice's text, and it is that block's first
address, because every client writes the sender's field before the recipients' (Gmail, Outlook,
Apple Mail, Thunderbird, Yahoo, Lotus Notes, GroupWise alike). The other addresses there are the
seller's side: the recipients.

So when no header block yields a sender, the sender is found in the nearest block:

- the block is the run of addresses just above the wording, each within ``BLOCK_GAP`` characters
  of the next, that no separator line (``-----``, ``_____``) cuts and in which no field label comes
  twice (a repeated label starts an earlier message's block);
- a field whose label the catalogue knows as From (Von, De, 发件人 …) names the sender outright;
- else the block's first address that is not a recipient: not under a label the catalogue knows
  as To or Cc, not one of a list (only recipients come in lists), and not one of the addresses the
  forwarding mail itself names as its own (the seller's side: its From, To, Cc …);
- a buyer's relay alias (``…@marketplace.amazon.…``) in the block or below it refuses: text after a
  buyer's address is the buyer's, and a buyer can type anything.

``notice.py`` then believes the address only if Amazon sends notices from it. Works on the
normalised text the wording was found in (lower case, quote markers gone, white space collapsed),
so it is linear in the text's length and independent of line breaks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from optout.recognise.forwards import MARKS

_DATA = tomllib.loads((Path(__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))
_RECIPIENT_LABELS = frozenset(label.lower().rstrip(":") for label in _DATA["forward"]["to"])
_SENDER_LABELS = frozenset(label.lower().rstrip(":") for label in _DATA["forward"]["from"])
_FIELD_LABELS = _RECIPIENT_LABELS | _SENDER_LABELS  # the labels whose role the catalogue knows
_VALUE_LABELS = frozenset(label.lower().rstrip(":") for role in ("subject", "date") for label in _DATA["forward"][role])
_KNOWN = sorted({v for label in _FIELD_LABELS for v in (label.title(), label.upper())
                 if v[0].isupper()}, key=len, reverse=True)
_GLUED = re.compile(r"(?<=[a-zà-ÿ0-9)])(?=(?:" + "|".join(re.escape(k) for k in _KNOWN) + r")[ \t]{0,2}[:：])")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}")
_RELAY = re.compile(r"[a-z0-9]{15}@marketplace\.amazon\.")
REACH = 2500  # characters before the wording a forwarded message's sender may stand (its header block, a greeting)
BLOCK_GAP = 300  # characters between two addresses of one header block at most (a date, a subject, labels)
_LABEL_REACH = 80  # how far before an address its field's label may stand (a display name between)
# a field's label: the last word (or two) before a colon, glued to what precedes it or not
_LABEL = re.compile(rf"([^\W\d_][\w'’.{MARKS}-]{{0,30}}(?: [^\W\d_][\w'’.{MARKS}-]{{0,30}})?)[ *_]{{0,3}}[:：]")
_SEPARATOR = re.compile(r"-{4}|_{4}|={4}|—{2}")
# after an address, a ";" and another address with no label between: the first of a list
_LIST_GOES_ON = re.compile(r"[>\] ]{0,3};[ \t]{0,4}[^:：;@]{0,60}@")


@dataclass(frozen=True, slots=True)
class Sender:
    address: str | None
    why: str  # when address is None: why none could stand as the sender
    at: int = -1  # where the sender's block starts in the text (-1: none found)
    end: int = -1  # where the sender's address ends


@dataclass(frozen=True, slots=True)
class _Field:
    address: str
    start: int
    end: int
    label: str | None


def sender_before(flat: str, anchor: int, *, seller_side: Collection[str] = (), floor: int = 0) -> Sender:
    """The sender of the notice whose wording starts at ``anchor`` in ``flat``: the nearest
    header block's sender, by the rules above. ``seller_side``: addresses the forwarding mail
    names as its own (lower case); ``floor``: where the wording before this one stands (a block
    never reaches above another notice's text)."""
    lo = max(0, floor, anchor - REACH)
    found = list(_ADDRESS.finditer(flat, lo, anchor))
    if not found:
        return Sender(None, "no sender address before the notice's text")
    block = _block(flat, found, lo, anchor)
    if any(_RELAY.match(f.address) for f in block):
        return Sender(None, "a buyer's message relayed by Amazon")
    named = [f for f in block if f.label in _SENDER_LABELS]
    if named:
        return Sender(named[-1].address, "", block[0].start, named[-1].end)
    for field in block:
        if (field.label in _RECIPIENT_LABELS or field.address in seller_side or _in_list(flat, field, lo)):
            continue
        return Sender(field.address, "", block[0].start, field.end)
    return Sender(None, "no sender address before the notice's text")


def _block(flat: str, found: list[re.Match[str]], lo: int, anchor: int) -> list[_Field]:
    """The nearest header block above ``anchor``: its addresses as fields, in the text's order."""
    block: list[_Field] = []
    labels: set[str] = set()
    below = anchor
    for match in reversed(found):
        if block and (below - match.end() > BLOCK_GAP or _SEPARATOR.search(flat, match.end(), below)):
            break
        label = _label(flat, match.start(), lo)
        if label is not None and label in labels:
            break  # the same label again: an earlier message's block
        if label is not None:
            labels.add(label)
        block.append(_Field(match[0].strip(".").lower(), match.start(), match.end(), label))
        below = match.start()
        if _RELAY.match(match[0]):
            break  # nothing above a buyer's address matters: the buyer wrote what follows it
        if label in _VALUE_LABELS:
            break  # an address after a Subject or Date field is no part of that field: it opens its own block
    block.reverse()
    return block


def _label(flat: str, at: int, lo: int) -> str | None:
    """The label of the field the address at ``at`` stands in: the last ``word:`` before it
    within _LABEL_REACH characters, with no other address between; None for none."""
    start = max(lo, at - _LABEL_REACH)
    before = flat[start:at]
    if "@" in before:
        before = before[before.rfind("@") + 1:]
        before = before[min((i for i in (before.find(">"), before.find(" ")) if i != -1), default=len(before)):]
    last = None
    for found in _LABEL.finditer(before):
        if not _prefix(found[1], before[:found.start()]):
            last = found
    if last is None or last[1].endswith("mailto"):  # a link to the address, not a field
        return None
    return _known_ending(last[1])


def _prefix(label: str, before: str) -> bool:
    """Is this ``word:`` a subject's prefix ("Subject: FW: …", "Betreff: AW: …") rather than a label?
    A short unknown word right after another label's colon."""
    return (len(label) <= 4 and " " not in label and label not in _FIELD_LABELS
            and before.rstrip(" *_").endswith((":", "：")))


def _known_ending(label: str) -> str:
    """A label read with the value's last word before it ("il tuo messaggio a") is the known
    label it ends with."""
    if label in _FIELD_LABELS:
        return label
    last = label.rsplit(" ", 1)[-1]
    return last if last in _FIELD_LABELS else label


def unglue(text: str) -> str:
    """``text`` with a space before each known label glued to the value before it, as Yahoo runs
    fields together ("…Your messageTo: …", "…UTC+1Von: …"): told by the case change, a lower-case
    letter or digit then the label's capital (so an invented label ending in "to" stays whole)."""
    return _GLUED.sub(" ", text) if ":" in text or "：" in text else text


def _in_list(flat: str, field: _Field, lo: int) -> bool:
    """Is this address one of a list (``a@x; b@y``)? Only recipients come in lists. An entity's
    ";" (QQ's ``"Name"&lt;addr&gt;``) is no list."""
    just_before = flat[max(lo, field.start - 5):field.start]
    if ";" in just_before and "&lt;" not in just_before:
        return True
    return bool(_LIST_GOES_ON.match(flat, field.end))
