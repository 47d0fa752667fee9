"""The ``optout`` command line: one module per command group, wired here.

Command modules import their heavy dependencies inside the commands, so that ``optout check``
does not pay for SQLAlchemy, aiosmtpd or Alembic.
"""

from __future__ import annotations

import typer

from optout.cli import (
    accounts,
    db,
    entries,
    export,
    lookup,
    parse,
    quarantine,
    serve,
    stats,
)

app = typer.Typer(
    name="optout",
    help="A shared list of Amazon buyers who opted out of seller messages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from optout import __version__

        typer.echo(f"optout {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """A shared list of Amazon buyers who opted out of seller messages."""


app.add_typer(accounts.app, name="accounts")
app.add_typer(db.app, name="db")
app.add_typer(quarantine.app, name="quarantine")
app.command("check")(lookup.check)
app.command("filter")(lookup.filter_)
app.command("add")(entries.add)
app.command("remove")(entries.remove)
app.command("import")(entries.import_)
app.command("stats")(stats.stats)
app.command("parse")(parse.parse)
app.command("ingest")(parse.ingest)
app.command("serve")(serve.serve)
app.command("export")(export.export)
app.command("purge")(export.purge)


def main() -> None:
    app()
