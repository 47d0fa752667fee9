"""What the list is keyed on: Amazon order IDs and buyer addresses, normalised one way everywhere."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from optout.errors import OptoutError

ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# Amazon's relay alias: 15 lowercase letters/digits at marketplace.amazon.<tld>.
BUYER_ALIAS = re.compile(r"(?<![\w.%+-])[a-z0-9]{15}@marketplace\.amazon\.[a-z]{2,3}(?:\.[a-z]{2})?", re.I)

# Addresses in plain dot-atom form that email-validator accepts and leaves unchanged once
# lowercased: local part of at most 64, whole of at most 254 characters, no "--" in the domain
# (it means IDNA rules apply: xn--…, and "ab--" is reserved), no special-use TLD. Matching
# these with a regex first makes bulk checks about 40x faster; anything else (quoted,
# internationalised, odd) goes to email-validator itself.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SPECIAL_TLDS = "arpa|invalid|local|localhost|onion|test"
_EMAIL = (rf"(?=[^@]{{1,64}}@)(?=.{{1,254}}\Z){_ATOM}(?:\.{_ATOM})*"
          rf"@(?![^@]*--)(?:{_LABEL}\.)+(?!(?:{_SPECIAL_TLDS})\Z)[a-z]{{2,63}}")
_PLAIN_ADDRESS = re.compile(_EMAIL)
# What a bulk check mostly holds, in one regex: an order ID (group 1) or a plain address.
_PLAIN_QUERY = re.compile(rf"(\d{{3}}-\d{{7}}-\d{{7}})|{_EMAIL}")


class Query(NamedTuple):
    """One thing to look up: ``kind`` is ``"order"`` or ``"email"``, ``value`` normalised.

    A named tuple rather than a frozen dataclass: as immutable, and made in two-thirds of the
    time, which a million-line check notices."""

    kind: str
    value: str  # normalised: what the list holds and matches
    sent: str = ""  # as the caller wrote it (surrounding white space removed); "" when the same as value


def normalise_email(text: str) -> str:
    """A buyer address, lowercased and validated (no DNS), or OptoutError."""
    value = text.strip().lower()
    return value if _PLAIN_ADDRESS.fullmatch(value) else _validated(value)


@lru_cache(maxsize=4096)
def _validated(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise OptoutError(f"not a valid address: {value!r} ({exc})") from None


def parse_query(text: str) -> Query:
    """Classify user input as an order ID or a buyer address."""
    given = text.strip()
    low = given.lower()
    if fast := _PLAIN_QUERY.fullmatch(low):  # lastindex: group 1 (an order ID) matched
        return Query("order" if fast.lastindex == 1 else "email", low, "" if low == given else given)
    stripped = given.strip("[]()<>").strip()
    if ORDER_ID.fullmatch(stripped):
        return Query("order", stripped, given)
    if "@" in stripped:
        return Query("email", normalise_email(stripped), given)
    if re.fullmatch(r"[\d\s-]+", stripped):
        raise OptoutError(f"not an Amazon order ID (3-7-7 digits): {shown(text)}")
    raise OptoutError(f"not a buyer address or an order ID: {shown(text)}")


def marketplace_of(address: str | None) -> str | None:
    """``amazon.de`` for ``…@marketplace.amazon.de``; None for anything else."""
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].lower()
    if domain.startswith("marketplace.amazon."):
        return domain.removeprefix("marketplace.")
    return None


def shown(text: str, limit: int = 80) -> str:
    """Bad input as an error message may quote it: trimmed, repr'd, and cut to ``limit``
    characters (a 50 MB line must not come back whole on the operator's terminal)."""
    text = text.strip()
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text):,} characters)"
