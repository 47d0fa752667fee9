"""``optout quarantine``: review what was not recognised or not trusted."""

from __future__ import annotations

from typing import Annotated

import typer

from optout.cli.output import (
    JsonOption,
    guarded,
    output_rows,
    reading,
    say,
    settings,
    show_record,
    transaction,
)

app = typer.Typer(help="Messages kept for review: not recognised, unverified, or held.",
                  no_args_is_help=True)
IdArg = Annotated[int, typer.Argument(help="The message ID from `quarantine list`.")]


@app.command("list")
@guarded
def list_(
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    outcome: Annotated[str | None, typer.Option(help="quarantined, unverified or held.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Messages waiting for review, newest first."""
    from optout.consult.lookup import iso
    from optout.record import quarantine

    with reading(settings()) as conn:
        rows = quarantine.listing(conn, limit=limit, outcome=outcome)
    for row in rows:
        row["received_at"] = iso(row["received_at"])
    output_rows(rows, columns=["id", "received_at", "outcome", "reason", "size"], as_json=as_json)


@app.command("show")
@guarded
def show(message_id: IdArg, as_json: JsonOption = False,
         raw: Annotated[bool, typer.Option("--raw", help="Print the message as received.")] = False) -> None:
    """One kept message: its envelope, outcome and reason (or its raw bytes)."""
    import sys

    from optout.consult.lookup import iso
    from optout.record import quarantine

    with reading(settings()) as conn:
        row = quarantine.get(conn, message_id=message_id)
    if raw:
        sys.stdout.buffer.write(row["raw"] or b"")
        return
    body = row.pop("raw")
    row["received_at"] = iso(row["received_at"])
    row["raw_kept"] = body is not None
    if body is not None:  # what a person needs to recognise it: who sent it, about what, which order
        from optout.consult.seller import summary

        seen = summary(body)
        row.update(sender=seen["sender"], subject=seen["subject"],
                   sent=iso(seen["sent"]) if not isinstance(seen["sent"], str) else seen["sent"],
                   order_id_in_text=seen["order"])
    show_record(row, as_json=as_json)


@app.command("retry")
@guarded
def retry(
    message_id: Annotated[int | None, typer.Argument(help="One message; or use --all.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every message in quarantine.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run recognition again, after the phrases were extended."""
    from optout.errors import OptoutError
    from optout.record import quarantine, trust

    if (message_id is None) == (not all_):
        raise OptoutError("give a message ID or --all, not both")
    cfg = settings()
    verifier, policy = trust.Verifier(cfg), trust.policy(cfg)
    with transaction(cfg) as conn:
        ids = quarantine.pending_ids(conn) if message_id is None else [message_id]
        outcomes = [(i, quarantine.retry(conn, message_id=i, policy=policy, verifier=verifier)) for i in ids]
    for i, done in outcomes:
        row = {"id": i, "outcome": done.outcome, "reason": done.reason}
        say(row, f"{i}\t{done.outcome}\t{done.reason}", as_json=as_json)


@app.command("accept")
@guarded
def accept(message_id: IdArg, as_json: JsonOption = False) -> None:
    """List an unverified or held notice on the operator's word."""
    from optout.record import quarantine, trust

    cfg = settings()
    with transaction(cfg) as conn:
        done = quarantine.accept(conn, message_id=message_id, verifier=trust.Verifier(cfg))
    row = {"id": message_id, "outcome": done.outcome, "reason": done.reason}
    say(row, f"{message_id}\t{done.outcome}\t{done.reason}", as_json=as_json)


@app.command("reject")
@guarded
def reject(message_id: IdArg, as_json: JsonOption = False) -> None:
    """Take a held, unverified or unrecognised message out of review without listing anything."""
    from optout.record import quarantine

    with transaction(settings()) as conn:
        done = quarantine.reject(conn, message_id=message_id)
    row = {"id": message_id, "outcome": done.outcome, "reason": done.reason}
    say(row, f"{message_id}\t{done.outcome}\t{done.reason}", as_json=as_json)


@app.command("groups")
@guarded
def groups(as_json: JsonOption = False) -> None:
    """Possible notices in an unknown language, grouped by their wording, biggest first, each
    with its wording in full: teach one with `optout wordings learn GROUP --language CODE`."""
    from optout.consult.lookup import iso
    from optout.record import wordings

    with reading(settings()) as conn:
        found = wordings.groups(conn)
        shown = [(group, wordings.derive(conn, target=str(group.sample_id))) for group in found]
    for group, derived in shown:
        row = {"group": group.key, "messages": group.messages, "accounts": group.accounts,
               "since": iso(group.since), "marketplaces": group.marketplaces, "sample": group.sample_id,
               "wording": derived.sentence, "subject": derived.subject}
        where = ", ".join(group.marketplaces) or "Amazon"
        say(row, f"{group.key}\t{group.messages} message(s) from {where}, {group.accounts} account(s), since "
                 f"{row['since']}\n\twording: {derived.sentence!r}\n\tits newest message: optout quarantine show "
                 f"{group.sample_id}\n\tteach it: optout wordings learn {group.key} --language CODE (an ISO 639-1 "
                 f"code), or --kind lookalike if it is no opt-out notice", as_json=as_json)
    if not shown and not as_json:
        typer.echo("no possible notices in an unknown language are waiting")
