"""What the list is keyed on: Amazon order IDs and buyer addresses, normalised one way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from optout.errors import OptoutError

ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
# Amazon's relay alias: 15 lowercase letters/digits at marketplace.amazon.<tld>.
BUYER_ALIAS = re.compile(r"(?<![\w.%+-])[a-z0-9]{15}@marketplace\.amazon\.[a-z]{2,3}(?:\.[a-z]{2})?", re.I)

# Addresses in plain dot-atom form that email-validator accepts and leaves unchanged once
# lowercased. Matching these with a regex first makes bulk checks about 40x faster; anything
# else (quoted, internationalised, odd) goes to email-validator itself.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[a-z]{{2,63}})")
_PLAIN_QUERY = re.compile(rf"(\d{{3}}-\d{{7}}-\d{{7}})|({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[a-z]{{2,63}})")
_SPECIAL_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


@dataclass(frozen=True, slots=True)
class Query:
    """One thing to look up: ``kind`` is ``"order"`` or ``"email"``, ``value`` normalised."""

    kind: str
    value: str


def normalise_email(text: str) -> str:
    """A buyer address, lowercased and validated (no DNS), or OptoutError."""
    value = text.strip().lower()
    match = _PLAIN_ADDRESS.fullmatch(value)
    if match and len(match[1]) <= 64 and len(value) <= 254 and "--" not in match[2]:
        # "--" in a label means IDNA rules apply (xn--…, and "ab--" is reserved): let the
        # library judge those.
        if match[2].rsplit(".", 1)[-1] not in _SPECIAL_TLDS:
            return value
    return _validated(value)


@lru_cache(maxsize=4096)
def _validated(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise OptoutError(f"not a valid address: {value!r} ({exc})") from None


def parse_query(text: str) -> Query:
    """Classify user input as an order ID or a buyer address."""
    low = text.strip().lower()
    fast = _PLAIN_QUERY.fullmatch(low)  # one regex for the common cases of bulk checks
    if fast:
        if fast[1]:
            return Query("order", low)
        if len(fast[2]) <= 64 and len(low) <= 254 and "--" not in fast[3] and fast[3].rsplit(".", 1)[-1] not in _SPECIAL_TLDS:
            return Query("email", low)
    stripped = text.strip().strip("[]()<>").strip()
    if ORDER_ID.fullmatch(stripped):
        return Query("order", stripped)
    if "@" in stripped:
        return Query("email", normalise_email(stripped))
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
