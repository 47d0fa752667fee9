"""``optout check`` and ``optout filter``: the questions a sending system asks."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from optout.cli.output import JsonOption, bulk_output, guarded, settings
from optout.consult.lookup import Invalid
from optout.errors import OptoutError
from optout.identifiers import Query, parse_query

if TYPE_CHECKING:
    from optout.store.reader import Reader


def _queries(args: list[str]) -> Iterator[Query]:
    """Queries from the arguments, with ``-`` standing for standard input, one a line."""
    for arg in args:
        if arg != "-":
            yield parse_query(arg)
            continue
        for number, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                yield parse_query(line)
            except OptoutError as exc:
                raise OptoutError(f"stdin line {number}: {exc}") from None


@guarded
def check(
    queries: Annotated[list[str], typer.Argument(help="Buyer addresses or order IDs; - reads stdin.")],
    as_json: JsonOption = False,
) -> None:
    """Is a buyer or an order on the list? Exit 0 if any query is listed, 1 if none is."""
    from optout.consult import lookup
    from optout.store import db

    cfg = settings()
    reader = db.reader(cfg)
    cutoff = lookup.expiry_cutoff(cfg.expire_days)
    any_listed = False
    write = sys.stdout.write
    try:
        with bulk_output():
            for query, row, accounts in lookup.check(reader, _queries(queries), detail=as_json):
                any_listed = any_listed or lookup.status(row, cutoff) == "listed"
                if as_json:
                    write(lookup.json_line(query, row, accounts, cutoff=cutoff) + "\n")
                else:
                    write(lookup.line(query, row, cutoff=cutoff))
    finally:
        reader.close()
    raise typer.Exit(0 if any_listed else 1)


def _rows(stream: TextIO, columns: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(the row as written, the values to check) for a plain or CSV send list: a CSV row is
    checked by each column named.

    A CSV header is written straight through before the first row is read.
    """
    if not columns:
        for line in stream:
            if line.strip():
                yield (line if line.endswith("\n") else line + "\n"), [line.strip()]
        return
    from optout.record.imports import csv_errors

    reader = csv.reader(stream)
    with csv_errors(reader):
        header = next(reader, None)
        missing = [c for c in columns if header is None or c not in header]
        if header is None or missing:
            raise OptoutError(f"no column {missing[0]!r} in the CSV header")
        sys.stdout.write(_csv_line(header))
        indexes = [header.index(column) for column in columns]
        for row in reader:
            yield _csv_line(row), [row[i] if i < len(row) else "" for i in indexes]


def _csv_line(row: list[str]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


@guarded
def filter_(
    column: Annotated[list[str] | None, typer.Option("--column", help="CSV input: a column to check (an address or "
                                                      "an order ID); give it again to check a row by several, "
                                                      "as --column email --column order_id.")] = None,
    input_path: Annotated[str, typer.Option("--input", "-i", help="Send list to read; - is stdin.")] = "-",
    invalid: Annotated[Invalid, typer.Option(help="A row that is neither an address nor an order ID could not "
                                                  "be checked: drop it (the default) or keep it.")] = Invalid.drop,
) -> None:
    """Write the send list without the listed buyers: what a mailer may send to."""
    from optout.consult import lookup
    from optout.store import db

    cfg = settings()
    reader = db.reader(cfg)  # first: a missing database is refused before a file is opened
    try:
        stream = sys.stdin if input_path == "-" else open(input_path, encoding="utf-8", newline="")  # noqa: SIM115
    except OSError:
        reader.close()
        raise
    counts: dict[str, int] = {}
    try:
        with bulk_output():
            _filter(stream, column or [], reader, lookup.expiry_cutoff(cfg.expire_days), counts,
                    keep_invalid=invalid is Invalid.keep)
    finally:
        reader.close()
        if stream is not sys.stdin:
            stream.close()
    typer.echo(f"kept {counts.get('kept', 0)}, suppressed {counts.get('suppressed', 0)}, not an address or order "
               f"ID ({'kept' if invalid is Invalid.keep else 'dropped'}) {counts.get('invalid', 0)}", err=True)


def _filter(stream: TextIO, columns: list[str], reader: Reader, cutoff: str | None, counts: dict[str, int], *,
            keep_invalid: bool) -> None:
    from optout.consult import lookup

    batch: list[str] = []
    values: list[tuple[str, ...]] = []

    def flush() -> None:
        listed = lookup.listed_values(reader, [v for checked in values for v in checked if v], cutoff=cutoff)
        sys.stdout.writelines(lookup.sendable(batch, values, listed, keep_invalid=keep_invalid, counts=counts))
        batch.clear()
        values.clear()

    for line, raws in _rows(stream, columns):
        batch.append(line)
        values.append(lookup.row_values(raws))
        if len(batch) >= lookup.BATCH:
            flush()
    flush()
