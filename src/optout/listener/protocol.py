"""What the listener and its worker process say to each other, named (as Mailman names what its
switchboard carries): each request is one of three small dataclasses, each answer a ``Reply``.
They travel pickled, one length-prefixed frame a request and one a group of replies; both ends
read this module and nothing else about the other.

Kept free of heavy imports: the listener imports it for the frame format, and the worker
process starts by importing it.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass, field

FRAME = struct.Struct("!I")  # the length of the pickle that follows


def frame(message: object) -> bytes:
    """``message`` as one frame: its pickle's length, then the pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(payload)) + payload


def unframe(buffer: bytearray) -> object | None:
    """The first whole frame's message, taken off the front of ``buffer``; None while the frame
    is not all there."""
    if len(buffer) < FRAME.size:
        return None
    (size,) = FRAME.unpack_from(buffer)
    if len(buffer) < FRAME.size + size:
        return None
    message: object = pickle.loads(buffer[FRAME.size : FRAME.size + size])
    del buffer[: FRAME.size + size]
    return message


@dataclass(frozen=True, slots=True)
class Ping:
    """Are you up and connected to the database? (Sent once, when the worker starts.)"""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as DATA received it: its bytes, its envelope and the accounts it is for.
    ``recipients`` holds (RCPT address, account ID), one per account: the message is recognised
    once and recorded for each."""

    raw: bytes
    mail_from: str | None
    peer: str | None
    recipients: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Refusals:
    """The listener's counts of refused recipients, to add to the ``refusal`` table:
    (day, client, refused, blocked) rows."""

    rows: tuple[tuple[str, str, int, int], ...]


Request = Ping | Delivery | Refusals


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a delivery for one account, committed."""

    outcome: str  # a record.ingest outcome: listed, duplicate, quarantined, held, …
    reason: str | None
    kind: str  # what recognition took the message for
    order_id: str | None
    dkim: str | None
    how: str | None  # how a notice came: direct, auto-forward, inline-forward, attachment
    language: str | None
    late: bool  # recognition ran past its deadline
    commit_s: float | None  # the group commit's time, on the first outcome of a group only
    wording: str | None = None  # which wording recognised a notice: builtin:en, taught:7
    notices: int = 0  # notices the message carries
    listed: int = 0  # of them, those that listed something new


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to request ``request_id``: done (with a delivery's outcomes, one per
    recipient), or ``error`` when it could not be done and nothing of it is committed."""

    request_id: int
    outcomes: tuple[Outcome, ...] = field(default=())
    error: str | None = None
