"""``optout keys``: API keys for the HTTP side."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from optout.cli.output import JsonOption, emit_json, guarded, output_rows, reading, settings, transaction

app = typer.Typer(help="API keys for the HTTP side (shown once; only a hash is kept).", no_args_is_help=True)


class Scope(str, Enum):
    read = "read"
    write = "write"
    admin = "admin"


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    from optout.consult.lookup import iso

    return {**row, "created_at": iso(row["created_at"]), "revoked_at": iso(row["revoked_at"])}


@app.command("add")
@guarded
def add(
    scope: Annotated[Scope, typer.Option("--scope", help="read, write or admin.")],
    account: Annotated[str | None, typer.Option("--account", help="The seller account the key belongs to.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="What the key is for, for people.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a key and print it, once. Read and write keys belong to an account; admin keys do not."""
    from optout.record import accounts, keys

    with transaction(settings()) as conn:
        account_id = accounts.get(conn, slug=account)["id"] if account else None
        key, row = keys.create(conn, scope=scope.value, account_id=account_id, name=name)
    if as_json:
        emit_json({**_shown(row), "key": key})
    else:
        typer.echo(key)


@app.command("list")
@guarded
def list_(as_json: JsonOption = False) -> None:
    """Every key: ID, the first characters, scope, account, when made and revoked."""
    from optout.record import keys

    with reading(settings()) as conn:
        rows = [_shown(row) for row in keys.listing(conn)]
    output_rows(rows, columns=["id", "prefix", "scope", "account", "name", "created_at", "revoked_at"],
                as_json=as_json)


@app.command("revoke")
@guarded
def revoke(key_id: Annotated[int, typer.Argument(help="The key's ID (optout keys list).")], as_json: JsonOption = False) -> None:
    """Revoke a key: it stops working at once (within a few seconds on running servers)."""
    from optout.record import keys

    with transaction(settings()) as conn:
        row = _shown(keys.revoke(conn, key_id=key_id))
    if as_json:
        emit_json(row)
    else:
        typer.echo(f"key {row['id']} ({row['prefix']}…) revoked")
