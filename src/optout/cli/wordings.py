"""``optout wordings``: teach recognition a notice's wording (a new language, a changed English
one) or a look-alike's, from the quarantine, without a release; list, show, forget, export and
import them."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from optout.cli.output import JsonOption, guarded, output_rows, reading, say, settings, show_record, transaction

app = typer.Typer(help="Wordings taught at run time: learn from the quarantine, list, show, forget, export, "
                       "import.", no_args_is_help=True)


WordingId = Annotated[int, typer.Argument(help="The wording's ID from `wordings list`.")]


class Kind(str, Enum):
    notice = "notice"
    lookalike = "lookalike"


@app.command("learn")
@guarded
def learn(
    target: Annotated[str, typer.Argument(help="A group from `quarantine groups`, or a message ID.")],
    language: Annotated[str, typer.Option("--language", help="The notice's language as an ISO 639-1 code: pt, es, "
                                                          "it, zh (pt-br for a region's).")],
    kind: Annotated[Kind, typer.Option(help="notice: it is an opt-out notice; lookalike: it is something "
                                            "else, keep its copies out")] = Kind.notice,
    yes: Annotated[bool, typer.Option("--yes", help="Save without asking (the wording is still shown).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the wording the sample would teach, then (confirmed) store it and recognise every
    waiting message of its group again."""
    import getpass

    from optout.errors import OptoutError
    from optout.record import quarantine, wordings

    language = language.strip().lower()
    wordings.check_language(language, kind=kind.value)  # before anything else: `--language Portuguese` is a typo
    named = wordings.language_name(language) or language
    cfg = settings()
    with transaction(cfg) as conn:
        derived = wordings.derive(conn, target=target)
        wordings.check(sentence=derived.sentence, language=language, kind=kind.value)
        typer.echo(f"wording ({named}, {language}; {kind.value}): {derived.sentence!r}", err=as_json)
        if derived.subject:
            typer.echo(f"subject: {derived.subject!r}", err=as_json)
        if not yes and not (sys.stdin.isatty() and typer.confirm("Save it?")):
            raise OptoutError("not saved: confirm at the prompt, or give --yes")
        wording_id, counts = quarantine.teach(conn, target=target, language=language, kind=kind.value,
                                            actor=f"cli ({getpass.getuser()})", cfg=cfg)
    done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none waiting"
    say({"id": wording_id, "language": language, "language_name": named, "kind": kind.value,
         "sentence": derived.sentence, "recognised_again": counts},
        f"taught wording {wording_id} ({named}, {kind.value}); its group recognised again: {done}", as_json=as_json)


@app.command("list")
@guarded
def list_(all_: Annotated[bool, typer.Option("--all", help="Forgotten ones too.")] = False,
          as_json: JsonOption = False) -> None:
    """The taught wordings (the built-in ones are in the package's phrases.toml)."""
    from optout.consult.lookup import iso
    from optout.record import wordings

    with reading(settings()) as conn:
        rows = wordings.listing(conn, everything=all_)
    for row in rows:
        row["taught_at"], row["forgotten_at"] = iso(row["taught_at"]), iso(row["forgotten_at"])
    output_rows(rows, columns=["id", "language", "kind", "sentence", "taught_by", "taught_at", "forgotten_at"],
                as_json=as_json)


@app.command("show")
@guarded
def show(wording_id: WordingId, as_json: JsonOption = False) -> None:
    """One taught wording: who taught it, when, from which message, and what it recognised since."""
    from optout.consult.lookup import iso
    from optout.record import wordings

    with reading(settings()) as conn:
        row = wordings.get(conn, wording_id=wording_id)
    row["taught_at"], row["forgotten_at"] = iso(row["taught_at"]), iso(row["forgotten_at"])
    show_record(row, as_json=as_json)


@app.command("forget")
@guarded
def forget(wording_id: WordingId, as_json: JsonOption = False) -> None:
    """Stop matching a wording. New mail only: nothing it listed is re-examined or removed."""
    from optout.record import wordings

    with transaction(settings()) as conn:
        row = wordings.forget(conn, wording_id=wording_id)
    say({"id": wording_id, "forgotten": True, "listed_by_it": row["messages"]},
        f"forgot wording {wording_id}: new mail no longer matches it; the {row['messages']} message(s) it "
        "recognised stay as they are (remove an entry with optout remove)", as_json=as_json)


@app.command("export")
@guarded
def export(output: Annotated[str, typer.Option("--output", "-o", help="File to write; - is stdout.")] = "-") -> None:
    """The built-in wordings and the taught ones as a TOML file, to share with another installation."""
    from pathlib import Path

    from optout.record import wordings

    with reading(settings()) as conn:
        text = wordings.export(conn)
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


@app.command("import")
@guarded
def import_(path: Annotated[str, typer.Argument(help="A file written by `optout wordings export`.")],
            as_json: JsonOption = False) -> None:
    """Teach the taught wordings of an export (those known already are skipped)."""
    import getpass
    from pathlib import Path

    from optout.record import wordings

    text = Path(path).read_text(encoding="utf-8")
    with transaction(settings()) as conn:
        added = wordings.import_(conn, text=text, actor=f"import ({getpass.getuser()})")
    say({"added": added}, f"added {added} wording(s); run optout quarantine retry --all to recognise what waits",
        as_json=as_json)
