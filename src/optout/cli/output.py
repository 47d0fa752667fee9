"""What every command shares: output options, error handling, progress, database access.

Exit codes: 0 success (for ``check``: at least one query listed), 1 ``check`` found nothing
listed, 2 bad input or an error (one line on stderr, never a traceback).

Where output goes: a command's result (rows, a summary of the work done) on stdout; errors,
skipped lines and progress on stderr. When stdout carries data for another program
(``filter``, ``export -o -``), the summary goes to stderr instead.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from optout.errors import OptoutError, first_line, is_database_error

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from optout.config import Settings

JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON object a line, for programs.")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")
]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    typer.echo(f"optout: error: {message}", err=True)
    return typer.Exit(2)


def guarded(func: F) -> F:
    """Turn OptoutError, database and file errors into one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OptoutError as exc:
            raise fail(str(exc)) from None
        except UnicodeDecodeError as exc:  # a file or stdin that is not UTF-8 text
            raise fail(f"input is not UTF-8 text ({exc.reason} at byte {exc.start} of a read)") from None
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            raise fail(f"{exc.strerror or exc}:{where}".rstrip(":")) from None
        except Exception as exc:
            if is_database_error(exc):
                raise fail(f"database error: {first_line(exc, 300)}") from None
            raise

    return cast(F, wrapper)  # functools.wraps keeps the signature; mypy cannot see that


def settings() -> Settings:
    from optout.config import load_settings

    return load_settings()


@contextmanager
def transaction(cfg: Settings) -> Iterator[Connection]:
    """One transaction on the configured database: all of a command's writes, or none."""
    from optout.store.db import engine

    eng = engine(cfg)
    try:
        with eng.begin() as conn:
            yield conn
    finally:
        eng.dispose()


@contextmanager
def reading(cfg: Settings) -> Iterator[Connection]:
    """One read-only transaction: on SQLite a WAL reader (it never takes the write lock, so the
    listener's commits never wait for it, however long an export runs); on PostgreSQL a READ
    ONLY transaction. Every command that only reads uses this, not ``transaction``."""
    from optout.store.db import read_only

    eng = read_only(cfg)
    try:
        with eng.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            with conn.begin():
                yield conn
    finally:
        eng.dispose()


@contextmanager
def bulk_output() -> Iterator[None]:
    """Standard output gathered into blocks while a command prints a line per query, flushed at
    the end. Under PYTHONUNBUFFERED or ``python -u`` (common in containers) every line was a
    write() call of its own: a tenth of ``optout check --json -``'s time on 500,000 lines."""
    stream = sys.stdout
    if not getattr(stream, "write_through", False) or not hasattr(stream, "reconfigure"):
        yield  # already buffered (or not a text stream we may reconfigure)
        return
    stream.reconfigure(write_through=False)
    try:
        yield
    finally:
        stream.flush()
        stream.reconfigure(write_through=True)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, ensure_ascii=False) + "\n")


def table(rows: list[dict[str, Any]], columns: list[str], *, title: str | None = None) -> None:
    """A table for people (Rich), or a plain line when there is nothing to show."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        typer.echo("(none)")
        return
    out = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*["" if row.get(c) is None else str(row.get(c)) for c in columns])
    Console(width=None if sys.stdout.isatty() else 160).print(out)


def say(record: dict[str, Any], line: str, *, as_json: bool) -> None:
    """One result: the record as JSON for programs, or one line for people."""
    if as_json:
        emit_json(record)
    else:
        typer.echo(line)


def output_rows(rows: list[dict[str, Any]], *, columns: list[str], as_json: bool) -> None:
    """Rows as JSON lines for programs, or as a table of ``columns`` for people."""
    if as_json:
        for row in rows:
            emit_json(row)
    else:
        table(rows, columns)


def show_record(record: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        emit_json(record)
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        typer.echo(f"{key:<{width}}  {'' if value is None else value}")


def progress(items: Iterable[Any], *, label: str, quiet: bool, total: int | None = None) -> Iterable[Any]:
    """A progress bar on a terminal's stderr; the bare iterable otherwise."""
    if quiet or not sys.stderr.isatty():
        return items
    from rich.progress import track

    return track(items, description=label, total=total, transient=True,
                 console=_stderr_console())


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def counter(quiet: bool, label: str) -> Any:
    """A context giving ``advance(n)``: a running count on a terminal's stderr, else a no-op.

    For streams of unknown length (imports, exports), where a bar cannot know its end.
    """
    from contextlib import contextmanager, nullcontext

    if quiet or not sys.stderr.isatty():
        return nullcontext(lambda n: None)

    @contextmanager
    def running() -> Iterator[Callable[[int], None]]:
        from rich.progress import Progress

        with Progress(console=_stderr_console(), transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda n: bar.advance(task, n)

    return running()
