"""``optout db``: create or migrate the schema."""

from __future__ import annotations

import typer

from optout.cli.output import guarded, settings

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
@guarded
def upgrade() -> None:
    """Create the schema, or migrate it to this version of optout."""
    from optout.store import db

    cfg = settings()
    eng = db.writer(cfg)
    try:
        before = db.current_revision(eng)
        db.upgrade(eng)
        after = db.current_revision(eng)
    finally:
        eng.dispose()
    typer.echo(f"schema {before or 'empty'} -> {after} on {db.redact(cfg.url)}")
