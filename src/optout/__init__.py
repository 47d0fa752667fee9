"""optout: a shared suppression list of Amazon buyers who opted out of seller messages."""

__version__ = "0.1.0"
