"""Who sent a forwarded notice, by evidence rather than by one parse.

Forwards come in layouts nobody has catalogued: an attribution with no verb (GroupWise's
``>>> "Name" <addr> 2/21/2026 >>>``, Yandex's ``05.05.2026, 14:06, "Amazon" <addr>:``), header
fields run together on one line, labels and values in separate table cells, a mailto link. What
they share: the original sender's address stands above the notice's text, nearer to it than any
other sender. So when no header block yields a sender, the nearest address before the wording
stands for it, and is believed only if

- it is an address Amazon sends notices from (``auto-communication@amazon.de`` …; a look-alike
  domain is not Amazon);
- no buyer's relay alias (``…@marketplace.amazon.…``) sits between it and the wording: text
  after a buyer's address is the buyer's, and a buyer can type anything;
- it is not a recipient: an address a To/Cc label (in any language the catalogue knows) names
  is skipped, so the seller's own address on a ``To:`` line is passed over, not believed;
- it stands close enough to the wording to belong to the same forwarded message.

Works on the normalised text the wording was found in (lower case, quote markers gone, white
space collapsed), so it is linear in the text's length and independent of line breaks.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

_DATA = tomllib.loads((Path(__file__).with_name("phrases.toml")).read_text(encoding="utf-8"))
_RECIPIENT_LABELS = tuple(sorted({label.lower().rstrip(":") for label in _DATA["forward"]["to"]}, key=len, reverse=True))
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,8}")
_RELAY = re.compile(r"[a-z0-9]{15}@marketplace\.amazon\.")
REACH = 2500  # characters before the wording a forwarded message's sender may stand (its header block, a greeting)
_LABEL_REACH = 80  # how far before an address its field's label may stand (a display name between)
# after an address, a ";" and another address with no label between: the first of a list
_LIST_GOES_ON = re.compile(r"[>\] ]{0,3};[ \t]{0,4}[^:：;@]{0,60}@")


@dataclass(frozen=True, slots=True)
class Sender:
    address: str | None
    why: str  # when address is None: why none could stand as the sender


def sender_before(flat: str, anchor: int) -> Sender:
    """The nearest sender address before ``anchor`` (where the wording starts) in ``flat``."""
    lo = max(0, anchor - REACH)
    found = list(_ADDRESS.finditer(flat, lo, anchor))
    for match in reversed(found):
        address = match[0].strip(".")
        if _RELAY.match(address):
            return Sender(None, "a buyer's message relayed by Amazon")
        if _recipient(flat, match.start(), lo) or _LIST_GOES_ON.match(flat, match.end()):
            continue
        return Sender(address, "")
    return Sender(None, "no sender address before the notice's text")


def _recipient(flat: str, at: int, lo: int) -> bool:
    """Does the field this address stands in carry a recipient label (To, An, À, 收件人, Cc …)?
    The label is the last ``word:`` before the address, within _LABEL_REACH characters. An
    address after a ``;`` is one of a list, and only recipients come in lists (so is one before
    a ``;`` and another address: the caller checks that, _LIST_GOES_ON)."""
    just_before = flat[max(lo, at - 5):at]
    if ";" in just_before and "&lt;" not in just_before:  # an entity's ";" (QQ's "Name"&lt;addr&gt;) is no list
        return True
    before = flat[max(lo, at - _LABEL_REACH):at]
    colon = max(before.rfind(":"), before.rfind("："))
    if colon < 0:
        return False
    head = before[:colon].rstrip(" *_")
    if head.endswith("mailto"):  # a link to the address, not a To: field
        return False
    # a label may be glued to the field before it ("…Your messageTo:", as Yahoo runs fields
    # together); a one-letter one ("A:", "À:") only counts standing apart
    return any(head.endswith(label) and (len(label) > 1 or len(head) == 1 or not head[-2].isalpha())
               for label in _RECIPIENT_LABELS)
