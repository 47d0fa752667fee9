"""All tables. Times are naive UTC; one migration per change under ``optout/migrations``.

The list is a set of *entries*, one per identifier a sender can suppress: an order ID
(``kind="order"``) or a buyer address (``kind="email"``). A notice naming both creates or
refreshes two entries. Every entry rests on *reports* (the evidence: which account, which
message, when, DKIM) or on a bulk *import run* (one row for a whole imported list), and every
inbound message is kept with its outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from optout.clock import utcnow

__all__ = ["Account", "AccountDay", "ApiKey", "Confirmation", "Entry", "Event", "ExportRun", "ImportRun", "Message", "Refusal", "Report", "SignInLink", "WebSession", "utcnow"]


class Account(SQLModel, table=True):
    """A seller account with its own ingest address ``<slug>-<token>@<ingest_domain>``."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True)
    name: str | None = Field(default=None, max_length=200)
    token: str = Field(max_length=64)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime())
    disabled_reason: str | None = None


class Entry(SQLModel, table=True):
    """One suppressed identifier and the summary of its evidence."""

    # incremental exports and the changes feed ask for what changed since a time (and, with
    # expiry on, what expired: by last_seen); lookups go by the unique value
    __table_args__ = (Index("ix_entry_updated", "updated_at"), Index("ix_entry_last_seen", "last_seen"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=5)  # "order" or "email"
    value: str = Field(max_length=320, unique=True)
    buyer_email: str | None = Field(default=None, max_length=320)
    order_ids: str | None = None  # space-separated, for email entries
    marketplace: str | None = Field(default=None, max_length=40)
    status: str = Field(default="listed", max_length=10)  # "listed" or "removed"
    first_seen: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    last_seen: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    report_count: int = 0
    verified: bool = False  # some report's DKIM signature verified
    removed_at: datetime | None = Field(default=None, sa_type=DateTime())
    removed_reason: str | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    imported_by: int | None = Field(default=None, foreign_key="importrun.id")  # first import that listed it


class Event(SQLModel, table=True):
    """The history of an entry: listed, removed, relisted, withdrawn — who, when, why."""

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    action: str = Field(max_length=20)
    actor: str | None = Field(default=None, max_length=100)
    reason: str | None = None


class Message(SQLModel, table=True):
    """An inbound message, kept whatever became of it. ``raw`` may be purged after retention."""

    __table_args__ = (UniqueConstraint("account_id", "sha256", name="uq_message_account_sha"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    sha256: str = Field(max_length=64)
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    size: int = 0
    source: str = Field(max_length=10)  # smtp, backfill
    mail_from: str | None = None
    rcpt: str | None = None
    peer: str | None = Field(default=None, max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    kind: str = Field(max_length=30)
    outcome: str = Field(max_length=20, index=True)
    reason: str | None = None
    order_id: str | None = Field(default=None, max_length=19)
    dkim: str | None = Field(default=None, max_length=10)
    dkim_domain: str | None = Field(default=None, max_length=255)
    # How it reached us: direct (from Amazon), gmail or outlook (a forwarding rule), auto-forward
    # (another), by-hand (forwarded by a person), backfill; the seller page's setup checklist
    route: str | None = Field(default=None, max_length=12)
    marketplace: str | None = Field(default=None, max_length=40)
    # Which wording recognised a notice ("builtin:en", "taught:7"), and for a possible notice in an
    # unknown language the group its wording belongs to (recognise/wordings.py)
    wording: str | None = Field(default=None, max_length=20)
    wording_group: str | None = Field(default=None, max_length=12, index=True)
    # The same bytes for the same account again (a re-sent notice): kept once, counted here, so
    # the seller page shows that it came
    resent_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_resent_at: datetime | None = Field(default=None, sa_type=DateTime())


class Report(SQLModel, table=True):
    """One piece of evidence for an order ID and/or buyer address."""

    __table_args__ = (Index("ix_report_account", "account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=64, unique=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    message_id: int | None = Field(default=None, foreign_key="message.id")
    order_id: str | None = Field(default=None, max_length=19, index=True)
    buyer_email: str | None = Field(default=None, max_length=320, index=True)
    marketplace: str | None = Field(default=None, max_length=40)
    source: str = Field(max_length=10)  # smtp, backfill, import, manual
    dkim: str = Field(default="none", max_length=10)  # pass, fail, none
    dkim_domain: str | None = Field(default=None, max_length=255)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    note: str | None = None
    withdrawn_at: datetime | None = Field(default=None, sa_type=DateTime())


class AccountDay(SQLModel, table=True):
    """How many identifiers each account put on the list each UTC day: the volume guard's count."""

    account_id: int = Field(foreign_key="account.id", primary_key=True)
    day: str = Field(max_length=10, primary_key=True)  # YYYY-MM-DD
    new_entries: int = 0


class ApiKey(SQLModel, table=True):
    """A key for the HTTP side. Only its SHA-256 is kept; the key itself is shown once."""

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the key's first characters, to tell keys apart in lists
    scope: str = Field(max_length=5)  # read, write or admin
    account_id: int | None = Field(default=None, foreign_key="account.id")
    name: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime())


class Refusal(SQLModel, table=True):
    """Recipients refused at RCPT (unknown ingest addresses) per client address per UTC day:
    what an operator looks at when someone guesses addresses."""

    day: str = Field(max_length=10, primary_key=True)  # YYYY-MM-DD
    client: str = Field(max_length=64, primary_key=True)
    refused: int = 0
    blocked: int = 0  # times the client was shut out for refusing too many


class Confirmation(SQLModel, table=True):
    """A Gmail forwarding verification the seller must confirm with its code."""

    __table_args__ = (UniqueConstraint("account_id", "code", name="uq_confirmation_code"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    code: str = Field(max_length=20)
    link: str | None = None
    requested_by: str | None = Field(default=None, max_length=320)
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    message_id: int | None = Field(default=None, foreign_key="message.id")


class ImportRun(SQLModel, table=True):
    """One bulk import: the evidence for every entry it listed (see Entry.imported_by)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    source: str | None = None  # the file name, or "-" for stdin
    reason: str | None = None
    rows: int = 0


class ExportRun(SQLModel, table=True):
    """One export written, for ``optout stats``."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    format: str = Field(max_length=10)
    rows: int
    sha256: str = Field(max_length=64)
    path: str | None = None


class SignInLink(SQLModel, table=True):
    """A sign-in link for a seller's page (``optout accounts link``); only its SHA-256 is kept."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    digest: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    expires_at: datetime = Field(sa_type=DateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime())


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie's SHA-256, and what it was opened with (a link or a key),
    so that revoking either ends the session too."""

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(max_length=64, unique=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")  # None: the operator (admin key)
    link_id: int | None = Field(default=None, foreign_key="signinlink.id")
    key_id: int | None = Field(default=None, foreign_key="apikey.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    expires_at: datetime = Field(sa_type=DateTime())
    ended_at: datetime | None = Field(default=None, sa_type=DateTime())


class Wording(SQLModel, table=True):
    """A wording the operator taught: a notice's (``kind`` notice) or a look-alike's, as the
    masked sentence around a sample's order ID. Forgotten ones stay, as the record of what
    listed what."""

    id: int | None = Field(default=None, primary_key=True)
    language: str = Field(max_length=12)
    kind: str = Field(max_length=10)  # notice, lookalike
    sentence: str = Field(max_length=2000)
    subject: str | None = Field(default=None, max_length=500)
    taught_by: str = Field(max_length=100)
    taught_at: datetime = Field(default_factory=utcnow, sa_type=DateTime())
    message_id: int | None = Field(default=None, foreign_key="message.id")
    forgotten_at: datetime | None = Field(default=None, sa_type=DateTime())


def table(model: type[SQLModel]) -> Table:
    """A model's Core table, for SQL built by hand."""
    found: Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it without declaring it
    return found
