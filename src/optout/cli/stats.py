"""``optout stats``."""

from __future__ import annotations

import typer

from optout.cli.output import JsonOption, emit_json, guarded, reading, settings


@guarded
def stats(as_json: JsonOption = False) -> None:
    """Entries listed and removed, reports, accounts, messages by outcome, the last export."""
    from optout.consult import stats as gather_stats
    from optout.consult.lookup import iso

    with reading(settings()) as conn:
        found = gather_stats.gather(conn)
    if found["last_export"]:
        found["last_export"]["at"] = iso(found["last_export"]["at"])
    if as_json:
        emit_json(found)
        return
    for key, value in found.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {'none' if v is None else v}" for k, v in value.items()) or "none"
        typer.echo(f"{key.replace('_', ' '):<22} {'none' if value is None else value}")
