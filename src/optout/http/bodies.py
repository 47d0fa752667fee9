"""Request bodies read as they arrive, never whole: lines, the strings of a JSON array, the
records of a CSV file. A send list of any size costs the same memory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from optout.errors import OptoutError

LONGEST_ITEM = 64 * 1024  # no query or CSV record is that long: past it, the body is broken


async def lines(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Each non-blank line, stripped, as the body arrives."""
    pending = b""
    async for chunk in stream:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.decode("utf-8", "replace").strip()
        _not_too_long(pending)
    if pending.strip():
        yield pending.decode("utf-8", "replace").strip()


async def csv_records(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Each CSV record's text without its line ending, a quoted field's line breaks kept.

    A record ends at a line break outside quotes; RFC 4180 doubles a quote inside a quoted
    field, so a record is complete when it holds an even number of quote characters."""
    pending, record, first = b"", b"", True
    async for chunk in stream:
        if first:
            chunk, first = chunk.removeprefix(b"\xef\xbb\xbf"), False  # Excel's UTF-8 mark
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            record += line
            if record.count(b'"') % 2:
                record += b"\n"
                continue
            if record.strip():
                yield record.rstrip(b"\r").decode("utf-8", "replace")
            record = b""
        _not_too_long(record + pending)
    record += pending
    if record.count(b'"') % 2:
        raise OptoutError("the CSV ends inside a quoted field")
    if record.strip():
        yield record.rstrip(b"\r").decode("utf-8", "replace")


async def json_array(stream: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The strings of a JSON array, as the body arrives."""
    decoder = json.JSONDecoder()
    buffer, started, done = "", False, False
    async for chunk in stream:
        buffer += chunk.decode("utf-8", "replace")
        while not done:
            buffer = buffer.lstrip(" \t\r\n,")
            if not started:
                if not buffer:
                    break
                if buffer[0] != "[":
                    raise OptoutError("the body is not a JSON array of strings")
                started, buffer = True, buffer[1:]
                continue
            if buffer.startswith("]"):
                done = True
                break
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                if len(buffer) > LONGEST_ITEM:
                    raise OptoutError("the body is not a JSON array of strings") from None
                break  # wait for more
            if not isinstance(value, str):
                raise OptoutError("the body is not a JSON array of strings")
            buffer = buffer[end:]
            yield value
    if not done:
        raise OptoutError("the body is not a complete JSON array")


async def chain(first: list[str], rest: AsyncIterator[str]) -> AsyncIterator[str]:
    for item in first:
        yield item
    async for item in rest:
        yield item


async def first_of(items: AsyncIterator[str]) -> list[str]:
    """The first item, read before an answer starts, so that a body that is not what it says
    it is gets a 400 rather than a 200 that breaks off."""
    try:
        return [await anext(items)]
    except StopAsyncIteration:
        return []


def _not_too_long(pending: bytes) -> None:
    if len(pending) > LONGEST_ITEM:
        raise OptoutError(f"a line or record longer than {LONGEST_ITEM:,} bytes: this is not a send list")


async def limited(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body, up to ``limit`` bytes: a chunked body declares no length for a 413 up front."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise OptoutError(f"the body passed {limit:,} bytes (setting http_max_body): send it in parts")
        yield chunk
