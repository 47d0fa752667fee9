"""``optout accounts``: register seller accounts and manage their ingest addresses."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from optout.cli.output import (
    JsonOption,
    emit_json,
    guarded,
    output_rows,
    reading,
    settings,
    show_record,
    transaction,
)

app = typer.Typer(help="Seller accounts and their ingest addresses.", no_args_is_help=True)

SlugArg = Annotated[str, typer.Argument(help="The account's short name.")]


def _public(account: dict[str, Any], domain: str) -> dict[str, Any]:
    from optout.consult.lookup import iso
    from optout.record.accounts import address

    return {
        "slug": account["slug"],
        "name": account["name"],
        "address": address(account, domain),
        "enabled": bool(account["enabled"]),
        "created_at": iso(account["created_at"]),
        "disabled_at": iso(account["disabled_at"]),
        "disabled_reason": account["disabled_reason"],
    }


@app.command("add")
@guarded
def add(
    slug: SlugArg,
    name: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a seller account and print its ingest address."""
    from optout.record import accounts

    cfg = settings()
    with transaction(cfg) as conn:
        account = accounts.create(conn, slug=slug, name=name)
    _print_address(_public(account, cfg.ingest_domain), as_json=as_json)


def _print_address(record: dict[str, Any], *, as_json: bool) -> None:
    """The whole record for programs; the address alone for people and shell scripts."""
    if as_json:
        emit_json(record)
    else:
        typer.echo(record["address"])


@app.command("list")
@guarded
def list_(as_json: JsonOption = False) -> None:
    """All accounts with their addresses."""
    from optout.record import accounts

    cfg = settings()
    with reading(cfg) as conn:
        records = [_public(a, cfg.ingest_domain) for a in accounts.all_accounts(conn)]
    output_rows(records, columns=["slug", "name", "address", "enabled", "created_at"], as_json=as_json)


@app.command("show")
@guarded
def show(slug: SlugArg, as_json: JsonOption = False) -> None:
    """One account, with the Gmail forwarding confirmations waiting for it."""
    from optout.consult.lookup import iso
    from optout.record import accounts

    cfg = settings()
    with reading(cfg) as conn:
        account = accounts.get(conn, slug=slug)
        pending = accounts.confirmations(conn, account_id=account["id"])
    record = _public(account, cfg.ingest_domain)
    record["confirmations"] = [{**c, "received_at": iso(c["received_at"])} for c in pending]
    if as_json:
        emit_json(record)
        return
    show_record({k: v for k, v in record.items() if k != "confirmations"}, as_json=False)
    for c in record["confirmations"]:
        typer.echo(f"Gmail forwarding confirmation code {c['code']} from {c['requested_by']} "
                   f"at {c['received_at']}: {c['link'] or '(no link)'}")


@app.command("disable")
@guarded
def disable(slug: SlugArg, as_json: JsonOption = False) -> None:
    """Stop accepting mail for an account; its entries stay."""
    from optout.record import accounts

    cfg = settings()
    with transaction(cfg) as conn:
        account = accounts.disable(conn, slug=slug)
    show_record(_public(account, cfg.ingest_domain), as_json=as_json)


@app.command("rotate")
@guarded
def rotate(slug: SlugArg, as_json: JsonOption = False) -> None:
    """Give an account a new ingest address; the old one stops working at once."""
    from optout.record import accounts

    cfg = settings()
    with transaction(cfg) as conn:
        account = accounts.rotate(conn, slug=slug)
    _print_address(_public(account, cfg.ingest_domain), as_json=as_json)


@app.command("revoke")
@guarded
def revoke(
    slug: SlugArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; kept with every withdrawn entry.")],
    as_json: JsonOption = False,
) -> None:
    """Disable an account and withdraw its reports; entries only it supported are removed."""
    from optout.record import accounts, entries

    cfg = settings()
    with transaction(cfg) as conn:
        account = accounts.disable(conn, slug=slug, reason=f"revoked: {reason}")
        done = entries.withdraw(conn, account_id=account["id"], reason=f"account {slug} revoked: {reason}")
    record = {"slug": slug, "withdrawn_reports": done["reports"], "entries_touched": done["entries"],
              "entries_removed": done["removed"]}
    show_record(record, as_json=as_json)


@app.command("link")
@guarded
def link(
    slug: SlugArg,
    valid: Annotated[str, typer.Option("--valid", help="How long the link works: 30m, 12h, 7d, 2w (at most 90d).")] = "7d",
    as_json: JsonOption = False,
) -> None:
    """Print a sign-in link to the account's page (public_url sets where it points); send it to the seller."""
    from optout.consult.lookup import iso
    from optout.record import accounts, signin

    cfg = settings()
    valid_for = signin.duration(valid)
    with transaction(cfg) as conn:
        account = accounts.get(conn, slug=slug)
        token, expires = signin.create_link(conn, account_id=account["id"], valid=valid_for)
    url = f"{cfg.base_url}/signin/{token}"
    if as_json:
        emit_json({"slug": slug, "url": url, "expires_at": iso(expires)})
    else:
        typer.echo(url)
        typer.echo(f"valid until {iso(expires)} ({valid}); optout accounts unlink {slug} withdraws it", err=True)
    if not cfg.public_url:
        typer.echo(f"warning: public_url is not set, so this link points at {cfg.base_url}, which only this "
                   "machine can open: set OPTOUT_PUBLIC_URL to the address sellers reach", err=True)
    if not cfg.operator_name and not cfg.operator_contact:
        typer.echo("warning: operator_name and operator_contact are not set, so the seller's page cannot say whom "
                   "to ask for help or a new link: set OPTOUT_OPERATOR_NAME and OPTOUT_OPERATOR_CONTACT", err=True)


@app.command("unlink")
@guarded
def unlink(slug: SlugArg, as_json: JsonOption = False) -> None:
    """Withdraw every sign-in link of the account; browsers signed in with them are signed out."""
    from optout.record import accounts, signin

    with transaction(settings()) as conn:
        account = accounts.get(conn, slug=slug)
        count = signin.revoke_links(conn, account_id=account["id"])
    show_record({"slug": slug, "links_withdrawn": count}, as_json=as_json)
