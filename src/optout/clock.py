"""The one clock: naive UTC, as every time column holds it. (Its own module so that light
commands need not import the table definitions to ask the time.)"""

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, as the naive UTC datetime every column holds."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def today() -> str:
    """The UTC date as YYYY-MM-DD: the unit of the per-account volume guard."""
    return utcnow().strftime("%Y-%m-%d")
