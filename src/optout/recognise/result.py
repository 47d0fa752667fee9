"""What recognition says about one message."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # Where in the mail a notice stands ("message", "attachment 2", "inline 3"), and the further
    # notices the same mail carries (a batch forwarded as attachments, notices pasted one after
    # another): each a whole Result of its own, with its own evidence
    part: str | None = None
    more: list[Result] = field(default_factory=list, repr=False)

    def notices(self) -> list[Result]:
        """Every notice this mail carries, in the mail's order; empty for anything else."""
        return [self, *self.more] if self.kind == NOTICE else []

    def public(self) -> dict[str, str | None]:
        data = {name: getattr(self, name) for name in _PUBLIC}
        return data


_PUBLIC = ("kind", "reason", "order_id", "buyer_email", "marketplace", "language", "confirmation_code",
           "forwarded_by", "how", "part")


def other(reason: str, *, forwarded_by: str | None = None, route: str | None = None) -> Result:
    return Result(kind=OTHER, reason=reason, forwarded_by=forwarded_by, route=route)
