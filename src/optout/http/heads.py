"""Bounds on a request's head, in the server itself: uvicorn (on httptools) reads headers for as
long, and as large, as a client sends them, so one client could hold a connection for ever with a
header a byte a minute, or make the server hold megabytes. Behind the nginx example the proxy
bounds both; the quick start serves without it.

A head that is not complete ``timeout`` seconds after it began (or after the connection opened)
gets ``408`` and the connection is closed; one past ``limit`` bytes gets ``431``.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from optout.config import Settings

TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class BoundedHeads(HttpToolsProtocol):
    """uvicorn's httptools protocol with the two bounds; ``bounded(cfg)`` sets them."""

    timeout = 10.0
    limit = 64 * 1024
    _in_head = True
    _head_bytes = 0
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's own
        super().connection_made(transport)
        self._start_head()

    def data_received(self, data: bytes) -> None:
        # counted as it arrives, judged once the parser has seen it: a chunk that ends the head
        # may carry the start of a body too (so the server holds at most the limit and a chunk)
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limit:
            self._refuse(TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._head_bytes = 0
            self._start_head()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _start_head(self) -> None:
        self._in_head = True
        self._stop_timer()
        self._timer = self.loop.call_later(self.timeout, self._refuse, TIMED_OUT)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, answer: bytes) -> None:
        self._stop_timer()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


def bounded(cfg: Settings) -> type[BoundedHeads]:
    """The protocol class for uvicorn's ``http`` setting, with the configured bounds."""
    return type("BoundedHeads", (BoundedHeads,), {"timeout": cfg.http_header_timeout,
                                                  "limit": cfg.http_max_header_bytes})
