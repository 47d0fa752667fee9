"""The listener's end of the worker process: hand a message over, await its committed outcome.

The worker (``listener/worker.py``) runs in its own process. This end is an asyncio protocol on
one end of a socket pair, not a ProcessPoolExecutor, whose feeder and result threads took the
interpreter lock from the event loop on every call. A watchdog kills a worker that leaves a
request unanswered for ``worker_timeout`` seconds; the next message starts a new one.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import socket
import time
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, cast

from optout.listener import metrics
from optout.listener.protocol import Delivery, Outcome, Ping, Refusals, Reply, Request, frame, unframe
from optout.listener.worker import serve_forever

if TYPE_CHECKING:
    from optout.config import Settings


class WorkerGone(Exception):
    """The worker failed, died or hung; what it was doing is not known to be committed."""


class Worker:
    """The listener's end: ``deliver`` a message and await its committed outcomes."""

    def __init__(self, settings: Settings, *, timeout: float) -> None:
        self.settings, self.timeout = settings, timeout  # pickled to the spawned worker as it is
        self.process: BaseProcess | None = None
        self.link: _Link | None = None
        self.watchdog: asyncio.Task[None] | None = None
        self.ids = itertools.count(1)
        self.restarting = asyncio.Lock()
        self.started = 0  # workers started so far: each after the first is a restart

    async def start(self) -> None:
        """Spawn the worker and wait until it is connected to the database."""
        mine, theirs = socket.socketpair()
        # spawn, not fork: the listener has threads, and a forked copy of a held lock deadlocks
        self.process = multiprocessing.get_context("spawn").Process(
            target=serve_forever, args=(theirs, self.settings), name="optout-worker", daemon=True)
        self.process.start()
        theirs.close()
        self.started += 1
        if self.started > 1:
            metrics.WORKER_RESTARTS.inc()
        _, self.link = await asyncio.get_running_loop().create_unix_connection(_Link, sock=mine)
        self.watchdog = asyncio.create_task(self._watch(self.link, self.process), name="worker-watchdog")
        await self._answer(self.link.send(next(self.ids), Ping()))

    async def deliver(self, delivery: Delivery) -> tuple[Outcome, ...]:
        """What became of ``delivery``, one outcome per recipient, committed; WorkerGone if the
        worker failed, died or took too long."""
        return (await self._submit(delivery)).outcomes

    async def record_refusals(self, rows: list[tuple[str, str, int, int]]) -> None:
        """Have the worker add the refused-recipient counts; WorkerGone if it could not."""
        await self._submit(Refusals(tuple(rows)))

    async def _submit(self, request: Request) -> Reply:
        if self.link is None or self.link.gone:
            async with self.restarting:  # one restart, however many sessions find it gone
                if self.link is None or self.link.gone:
                    await self.stop()
                    await self.start()
        assert self.link is not None
        return await self._answer(self.link.send(next(self.ids), request))

    @staticmethod
    async def _answer(waiting: asyncio.Future[Reply]) -> Reply:
        reply = await waiting
        if reply.error is not None:
            raise WorkerGone(reply.error)
        return reply

    async def _watch(self, link: _Link, process: BaseProcess) -> None:
        """Kill a worker that has left a request unanswered for ``timeout`` seconds.

        One check a second, rather than a timer per message: a timer per message cost the
        event loop more than the rest of handing the message over.
        """
        while not link.gone:
            await asyncio.sleep(min(1.0, self.timeout / 4))
            if link.waiting and time.monotonic() - link.oldest() > self.timeout:
                process.kill()
                metrics.WORKER_TIMEOUTS.inc()
                link.close(f"no answer from the worker in {self.timeout:g} s")

    async def stop(self, timeout: float = 10) -> None:
        """Close our end (the worker commits what it holds, reads end-of-file and exits); reap it."""
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.link is not None:
            self.link.close("the listener is stopping")
            self.link = None
        if self.process is not None:
            await asyncio.to_thread(self.process.join, timeout)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.to_thread(self.process.join)
            self.process = None


class _Link(asyncio.Protocol):
    """Frames on the parent's end of the socket pair; replies matched to requests by ID."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiting: dict[int, tuple[asyncio.Future[Reply], float]] = {}  # oldest first
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a Unix socket pair's transport
        self.transport: asyncio.Transport = transport

    def send(self, request_id: int, request: Request) -> asyncio.Future[Reply]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = (future, time.monotonic())
        self.transport.write(frame((request_id, request)))
        return future

    def oldest(self) -> float:
        """When the longest-waiting request was sent."""
        return next(iter(self.waiting.values()))[1]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (framed := unframe(self.buffer)) is not None:
            for reply in cast(list[Reply], framed):
                future, _ = self.waiting.pop(reply.request_id, (None, 0.0))
                if future is not None and not future.done():
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.close("the worker process exited")

    def close(self, reason: str) -> None:
        """Fail whatever is waiting (the sender will retry) and close our end."""
        self.gone = True
        for future, _ in self.waiting.values():
            if not future.done():
                future.set_exception(WorkerGone(reason))
        self.waiting.clear()
        self.transport.close()
