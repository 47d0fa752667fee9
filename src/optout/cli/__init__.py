"""The ``optout`` command line: one module per command group, wired here.

Command modules import their heavy dependencies inside the commands, so that ``optout check``
does not pay for SQLAlchemy, aiosmtpd or Alembic.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from optout.cli import (
    accounts,
    backup,
    db,
    entries,
    export,
    keys,
    lookup,
    parse,
    quarantine,
    serve,
    stats,
    wordings,
)


class _OneLineErrors(TyperGroup):
    """Usage errors (a bad choice, a missing argument) as one line and exit 2, like every other
    error, instead of click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except typer.Abort:
            typer.echo("optout: error: aborted", err=True)
            sys.exit(1)
        except Exception as exc:
            # click's UsageError (Typer may vendor click, so it is known by its shape)
            if not hasattr(exc, "format_message") or getattr(exc, "exit_code", None) != 2:
                raise
            typer.echo(f"optout: error: {exc.format_message()}", err=True)
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
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
app.add_typer(keys.app, name="keys")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(wordings.app, name="wordings")
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
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


def _one_line_summaries(group: typer.Typer) -> None:
    """Each command's summary in a group's help, its docstring's first paragraph as one line:
    Typer keeps the docstring's line breaks there, so a sentence broke off in the middle."""
    for command in group.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc and not command.short_help:
            command.short_help = " ".join(doc.strip().split("\n\n", 1)[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


_one_line_summaries(app)


def main() -> None:
    app()
