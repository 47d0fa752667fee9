"""Backup and restore: a whole deployment in one file, restorable into either engine.

The file is one gzip stream:

    optout-backup 1
    {"schema": "0006", "engine": "sqlite", "created_at": "…", "tables": [{"name", "columns", "types"}, …]}
    @table account
    <its rows in PostgreSQL's COPY text format: tab-separated, \\N for NULL, backslash escapes>
    \\.
    @table …
    @end {"rows": {"account": 3, …}, "sha256": "<of every byte above this line>"}

COPY's text format because PostgreSQL writes and reads it natively (``COPY … TO/FROM STDOUT``,
the fast way in and out), and because it is simple enough to write and read for SQLite here.
Types travel in the header, so a value is read back as what it was on either engine (a
boolean ``t`` or ``1``, a timestamp with or without its microseconds, bytes as ``\\x…``).

A backup is a snapshot: one read transaction (SQLite's WAL reader, PostgreSQL's REPEATABLE
READ), which no writer waits for. Left out on purpose: sign-in sessions (``websession``), the
browsers signed in at the time; a restored deployment asks them to sign in again, rather than
reviving cookies that may have been stolen with the file. Everything else is in it: entries
with their history and evidence, accounts, API keys (as stored: hashes), sign-in links,
taught wordings, messages with their raw mail as far as retention kept it, export runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from optout.errors import OptoutError

MAGIC = b"optout-backup 1\n"
LEFT_OUT = frozenset({"websession", "alembic_version"})
_END = b"@end "
_BATCH = 5000  # rows a statement batch on SQLite
_CHUNK = 1 << 20
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # int, bool, datetime, bytes, float, text

    def __post_init__(self) -> None:
        """Names go into SQL as they are (quoted): a backup's header may name only plain ones."""
        for name in (self.name, *self.columns):
            if not _PLAIN_NAME.fullmatch(name):
                raise Damaged(f"unexpected name in a backup: {name!r}")


def tables(metadata: Any) -> list[Table]:
    """The tables a backup holds, parents before children, with their column types."""
    return [Table(t.name, tuple(c.name for c in t.columns), tuple(_kind(c.type) for c in t.columns))
            for t in metadata.sorted_tables if t.name not in LEFT_OUT]


def _kind(sa_type: Any) -> str:
    name = type(sa_type).__name__.lower()
    for kind, words in (("bool", ("bool",)), ("datetime", ("datetime", "timestamp")), ("bytes", ("binary", "blob")),
                        ("int", ("int",)), ("float", ("float", "numeric", "real"))):
        if any(word in name for word in words):
            return kind
    return "text"


# --- writing ---------------------------------------------------------------------------------------


class Writer:
    """The backup file being written: gzip around everything, a checksum of what it holds."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zipped = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0)
        self.digest = hashlib.sha256()
        self.rows: dict[str, int] = {}

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.zipped.write(data)

    def header(self, *, schema: str, engine: str, shown: list[Table]) -> None:
        self.write(MAGIC)
        head = {"schema": schema, "engine": engine, "created_at": datetime.now(timezone.utc).isoformat(),
                "tables": [{"name": t.name, "columns": t.columns, "types": t.types} for t in shown]}
        self.write(json.dumps(head).encode() + b"\n")

    def table(self, table: Table, chunks: Iterator[tuple[bytes, int]], advance: Callable[[int], None]) -> None:
        self.write(b"@table " + table.name.encode() + b"\n")
        count = 0
        for data, rows in chunks:
            self.write(data)
            count += rows
            advance(rows)
        self.write(b"\\.\n")
        self.rows[table.name] = count

    def close(self) -> None:
        trailer = {"rows": self.rows, "sha256": self.digest.hexdigest()}
        self.zipped.write(_END + json.dumps(trailer).encode() + b"\n")
        self.zipped.close()


def sqlite_rows(conn: Any, table: Table) -> Iterator[tuple[bytes, int]]:
    """A table's rows from SQLite in COPY text format, in blocks."""
    cursor = conn.cursor()
    cursor.execute(f"SELECT {', '.join(_quoted(c) for c in table.columns)} FROM {_quoted(table.name)}")
    converters = [_TO_TEXT[kind] for kind in table.types]
    while True:
        batch = cursor.fetchmany(_BATCH)
        if not batch:
            return
        lines = ["\t".join([c(v) for c, v in zip(converters, row)]) for row in batch]
        yield ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"), len(batch)


def postgresql_rows(conn: Any, table: Table) -> Iterator[tuple[bytes, int]]:
    """A table's rows from PostgreSQL as COPY writes them."""
    columns = ", ".join(_quoted(c) for c in table.columns)
    with conn.cursor().copy(f"COPY (SELECT {columns} FROM {_quoted(table.name)}) TO STDOUT") as copy:
        for data in copy:
            block = bytes(data)
            yield block, block.count(b"\n")


def _null_or(convert: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: "\\N" if value is None else convert(value)


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text.translate(_ESCAPES) if ("\\" in text or "\n" in text or "\r" in text or "\t" in text) else text


_TO_TEXT: dict[str, Callable[[Any], str]] = {
    "int": _null_or(str), "float": _null_or(repr), "text": _null_or(_text), "datetime": _null_or(_text),
    "bool": _null_or(lambda v: "1" if v else "0"),  # what SQLite stores; PostgreSQL's COPY reads it too
    "bytes": _null_or(lambda v: "\\\\x" + bytes(v).hex()),
}


def _quoted(name: str) -> str:
    return f'"{name}"'  # a Table's names are plain ones (Table.__post_init__)


# --- reading ---------------------------------------------------------------------------------------


class Damaged(OptoutError):
    """The backup file is not whole: a wrong checksum, cut short, or not a backup at all."""


def verify(path: str) -> dict[str, Any]:
    """Read the whole file once and check its checksum; its header, with the trailer's counts."""
    digest = hashlib.sha256()
    tail = b""
    try:
        with gzip.open(path, "rb") as stream:
            if stream.read(len(MAGIC)) != MAGIC:
                raise Damaged(f"{path} is not an optout backup")
            digest.update(MAGIC)
            while chunk := stream.read(_CHUNK):
                tail += chunk
                if len(tail) > 2 * _CHUNK:  # keep the last part back: the trailer is in it
                    digest.update(tail[:-_CHUNK])
                    tail = tail[-_CHUNK:]
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise Damaged(f"{path} is damaged or cut short ({_reason(exc)})") from None
    at = tail.rfind(b"\n" + _END)
    if at < 0 or not tail.endswith(b"\n"):
        raise Damaged(f"{path} is cut short: it has no end record")
    digest.update(tail[:at + 1])
    try:
        trailer = json.loads(tail[at + 1 + len(_END):])
    except ValueError:
        raise Damaged(f"{path} has a damaged end record") from None
    if trailer.get("sha256") != digest.hexdigest():
        raise Damaged(f"{path} is damaged: its checksum does not match")
    return {**header(path), "rows": trailer.get("rows", {})}


def _reason(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0] or type(exc).__name__


def header(path: str) -> dict[str, Any]:
    with gzip.open(path, "rb") as stream:
        stream.read(len(MAGIC))
        try:
            head: dict[str, Any] = json.loads(stream.readline())
            shapes = [Table(t["name"], tuple(t["columns"]), tuple(t["types"])) for t in head["tables"]]
            schema, engine = str(head["schema"]), str(head["engine"])
        except (ValueError, KeyError, TypeError):
            raise Damaged(f"{path} has a damaged header") from None
    if not shapes or engine not in ("sqlite", "postgresql") or not schema:
        raise Damaged(f"{path} has a damaged header")
    return head


def sections(path: str) -> Iterator[tuple[Table, Iterator[bytes]]]:
    """Each table of a verified backup, with its COPY text in blocks that end at a line's end."""
    with gzip.open(path, "rb") as stream:
        stream.read(len(MAGIC))
        head = json.loads(stream.readline())
        shapes = {t["name"]: Table(t["name"], tuple(t["columns"]), tuple(t["types"])) for t in head["tables"]}
        blocks = _Blocks(stream)
        while (line := blocks.line()).startswith(b"@table "):
            table = shapes[line[len(b"@table "):].strip().decode()]
            yield table, blocks.until_terminator()


class _Blocks:
    """Big blocks of a stream, cut at line ends, with what is read past a point kept back."""

    def __init__(self, stream: gzip.GzipFile) -> None:
        self.stream, self.left = stream, b""

    def line(self) -> bytes:
        while b"\n" not in self.left:
            more = self.stream.read(_CHUNK)
            if not more:
                line, self.left = self.left, b""
                return line
            self.left += more
        line, self.left = self.left.split(b"\n", 1)
        return line

    def until_terminator(self) -> Iterator[bytes]:
        """The lines up to ``\\.``, in blocks; the terminator itself is consumed."""
        while True:
            if self.left.startswith(b"\\.\n"):
                self.left = self.left[3:]
                return
            end = self.left.find(b"\n\\.\n")
            if end >= 0:
                block, self.left = self.left[:end + 1], self.left[end + 4:]
                yield block
                return
            cut = self.left.rfind(b"\n")
            if cut >= 0 and len(self.left) > _CHUNK:
                yield self.left[:cut + 1]
                self.left = self.left[cut + 1:]
            more = self.stream.read(_CHUNK)
            if not more:
                raise Damaged("the backup ends inside a table")
            self.left += more


def sqlite_values(table: Table, block: bytes, *, origin: str) -> list[list[Any]]:
    """The rows of a COPY text block as parameters of ``sqlite_insert``: fields as they are,
    but escapes, bytes and (from PostgreSQL) timestamps, each converted only where it occurs.
    NULLs and booleans are left for the statement: a restore spends its time in SQLite, not here."""
    special = [(i, _FROM_TEXT[kind]) for i, kind in enumerate(table.types)
               if kind == "bytes" or (origin != "sqlite" and kind == "datetime")]
    texts = [i for i, kind in enumerate(table.types) if kind == "text"]
    rows = []
    for line in block.decode("utf-8", "surrogateescape").split("\n"):
        if not line:
            continue
        fields: list[Any] = line.split("\t")
        if "\\" in line and line.count("\\") != line.count("\\N"):  # an escape, or bytes
            for i in texts:
                if fields[i] != "\\N" and "\\" in fields[i]:
                    fields[i] = _from_text(fields[i])
        for i, convert in special:
            fields[i] = convert(fields[i])
        rows.append(fields)
    return rows


def sqlite_insert(table: Table) -> str:
    """The INSERT that takes ``sqlite_values``' rows: ``\\N`` is NULL, a boolean's ``t``/``1`` is 1
    (SQLite's column affinity makes "42" the integer 42 by itself)."""
    values = [f"CASE ?{n} WHEN '\\N' THEN NULL WHEN 't' THEN 1 WHEN 'true' THEN 1 WHEN '1' THEN 1 ELSE 0 END"
              if kind == "bool" else f"NULLIF(?{n}, '\\N')"
              for n, kind in enumerate(table.types, 1)]
    names = ", ".join(_quoted(c) for c in table.columns)
    return f'INSERT INTO {_quoted(table.name)} ({names}) VALUES ({", ".join(values)})'


_UNESCAPE = re.compile(r"\\(.)")
_UNESCAPED = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "\\": "\\"}


def _from_text(value: str) -> str | None:
    if value == "\\N":
        return None
    return _UNESCAPE.sub(lambda m: _UNESCAPED.get(m[1], m[1]), value) if "\\" in value else value


def _from_datetime(value: str) -> str | None:
    """As SQLAlchemy's SQLite dialect stores a datetime: six digits of microseconds always
    (PostgreSQL leaves off trailing zeros, and the fraction when it is zero)."""
    if value == "\\N":
        return None
    if "." not in value:
        return value + ".000000"
    whole, fraction = value.split(".", 1)
    return f"{whole}.{fraction:0<6}"


_FROM_TEXT: dict[str, Callable[[str], Any]] = {  # each takes \\N for NULL
    "int": lambda v: None if v == "\\N" else int(v),
    "float": lambda v: None if v == "\\N" else float(v),
    "bool": lambda v: None if v == "\\N" else int(v in ("t", "1", "true")),
    "bytes": lambda v: None if v == "\\N" else bytes.fromhex(v[3:]),
    "datetime": _from_datetime,
    "text": _from_text,
}
