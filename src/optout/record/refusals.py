"""The listener's counts of refused recipients (unknown ingest addresses), per client and day:
what an operator looks at when someone guesses addresses (``optout stats``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from optout.store import bulk, sql

COLUMNS = ("day", "client", "refused", "blocked")


def add(conn: Connection, *, rows: Sequence[tuple[str, str, int, int]]) -> None:
    """Add (day, client, refused, blocked) counts to what the table holds."""
    if rows:
        bulk.insert(conn, table="refusal", columns=COLUMNS, rows=list(rows), tail=sql.REFUSALS_ADD)
