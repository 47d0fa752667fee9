"""What recognition says about one message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

NOTICE = "optout_notice"
CONFIRMATION = "forwarding_confirmation"
OTHER = "other"


@dataclass(slots=True)
class Result:
    """The verdict on one message; the public fields are what ``optout parse --json`` prints."""

    kind: str
    reason: str
    order_id: str | None = None
    buyer_email: str | None = None
    marketplace: str | None = None
    language: str | None = None
    confirmation_code: str | None = None
    forwarded_by: str | None = None
    how: str | None = None
    # Not printed: the link to confirm a Gmail forward, and the bytes whose DKIM signature
    # can vouch for the notice (the message itself, or the attached original).
    confirmation_link: str | None = field(default=None, repr=False)
    signed_bytes: bytes | None = field(default=None, repr=False)
    sender: str | None = field(default=None, repr=False)
    # How the message reached us (see ``message.route``): direct, gmail, outlook, auto-forward or by-hand
    route: str | None = field(default=None, repr=False)
    # Which wording recognised a notice ("builtin:en", "taught:7"); for a possible notice in an
    # unknown language, the signature its group shares (recognise/wordings.py)
    wording: str | None = field(default=None, repr=False)
    group: str | None = field(default=None, repr=False)

    def public(self) -> dict[str, str | None]:
        data = asdict(self)
        for private in ("confirmation_link", "signed_bytes", "sender", "route", "wording", "group"):
            data.pop(private)
        return data


def other(reason: str, *, forwarded_by: str | None = None, route: str | None = None) -> Result:
    return Result(kind=OTHER, reason=reason, forwarded_by=forwarded_by, route=route)
