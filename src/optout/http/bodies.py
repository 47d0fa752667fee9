"""Bulk request bodies: spooled to a temporary file as they arrive (the first megabyte in
memory, the rest on disk), then read a batch at a time: lines, the strings of a JSON array, the
records of a CSV file. A send list of any size costs the same memory.

Why spool rather than answer while the body is still arriving: most HTTP clients (requests,
httpx, fetch) send the whole body before they read a byte of the answer. A server that answers
as it reads fills the socket towards such a client, stops reading, and both wait forever.
"""

from __future__ import annotations

import codecs
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO

from optout.errors import OptoutError

LONGEST_ITEM = 64 * 1024  # no query or CSV record is that long: past it, the body is broken
IN_MEMORY = 1024 * 1024
CHUNK = 256 * 1024


async def spool(stream: AsyncIterator[bytes], *, lines: bool = False) -> IO[bytes]:
    """The whole body in a temporary file, rewound (its size the gate bounds as it arrives:
    ``http_max_body``). With ``lines`` (a send list), a line longer than LONGEST_ITEM is refused
    as it arrives, not once it has been stored."""
    spooled = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115 (the caller closes it)
    run = 0
    try:
        async for chunk in stream:
            if lines:
                run = _line_run(run, chunk)
            spooled.write(chunk)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled


def _line_run(run: int, chunk: bytes) -> int:
    """The length of the line still open after ``chunk``, ``run`` bytes of it before; a 400 if any
    line passes LONGEST_ITEM. Only a chunk longer than that can hide a long line inside it."""
    first, last = chunk.find(b"\n"), chunk.rfind(b"\n")
    longest = run + len(chunk) if first < 0 else max(run + first, len(chunk) - last - 1)
    if len(chunk) > LONGEST_ITEM and first >= 0:
        longest = max(longest, max(map(len, chunk[first + 1 : last].split(b"\n"))))
    if longest > LONGEST_ITEM:
        raise OptoutError(_TOO_LONG)
    return run + len(chunk) if first < 0 else len(chunk) - last - 1


_TOO_LONG = f"a line longer than {LONGEST_ITEM:,} bytes: this is not a send list"


def lines(body: IO[bytes]) -> Iterator[str]:
    """Each non-blank line, stripped. The body was spooled with ``lines`` (no line in it is
    longer than LONGEST_ITEM), so plain iteration, three times faster than a bounded readline,
    holds no more than that per line."""
    for line in body:
        if len(line) > LONGEST_ITEM:
            raise OptoutError(_TOO_LONG)
        if line.strip():
            yield line.decode("utf-8", "replace").strip()


def csv_records(body: IO[bytes]) -> Iterator[str]:
    """Each CSV record's text without its line ending, a quoted field's line breaks kept.

    A record ends at a line break outside quotes; RFC 4180 doubles a quote inside a quoted
    field, so a record is complete when it holds an even number of quote characters."""
    record, first = b"", True
    while line := body.readline(LONGEST_ITEM + 1):
        if first:
            line, first = line.removeprefix(b"\xef\xbb\xbf"), False  # Excel's UTF-8 mark
        record += line
        if len(record) > LONGEST_ITEM:
            raise OptoutError(f"a CSV record longer than {LONGEST_ITEM:,} bytes: is a quote left open?")
        if record.count(b'"') % 2:
            continue
        if record.strip():
            yield record.rstrip(b"\r\n").decode("utf-8", "replace")
        record = b""
    if record.strip():
        raise OptoutError("the CSV ends inside a quoted field")


_NOT_STRINGS = "the body is not a JSON array of strings"


def _whole_characters(value: str) -> str:
    """A JSON string may hold half a surrogate pair (``"\\ud800"``), which no UTF-8 answer can
    carry: it becomes U+FFFD, so the query gets its own error line rather than a cut answer."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def json_array(body: IO[bytes]) -> Iterator[str]:
    """The strings of a JSON array, decoded a chunk at a time."""
    decoder, text = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8")("replace")
    buffer, started, done = "", False, False
    for chunk in iter(lambda: body.read(CHUNK), b""):
        buffer += text.decode(chunk)  # a character split between two chunks stays whole
        while not done:
            buffer = buffer.lstrip(" \t\r\n,")
            if not started:
                if not buffer:
                    break
                if buffer[0] != "[":
                    raise OptoutError(_NOT_STRINGS)
                started, buffer = True, buffer[1:]
                continue
            if buffer.startswith("]"):
                done = True
                break
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                if len(buffer) > LONGEST_ITEM:
                    raise OptoutError(_NOT_STRINGS) from None
                break  # the item goes on in the next chunk
            except (ValueError, RecursionError):  # a number past int's digit limit; arrays nested thousands deep
                raise OptoutError(_NOT_STRINGS) from None
            if not isinstance(value, str):
                raise OptoutError(_NOT_STRINGS)
            buffer = buffer[end:]
            yield value if value.isascii() else _whole_characters(value)
    if not done:
        raise OptoutError("the body is not a complete JSON array")
