"""Lookups of requests that arrive together, answered together: one database round trip for
all of them.

A GET lookup on PostgreSQL costs one or two round trips on an asynchronous connection; under
load, the event loop spent more on those (the driver's work, the pool, the server's per
statement work on the same cores) than on the rest of the request. So a lookup waits for a
free slot (at most ``at_once`` batches run at a time), and when one is free, everything waiting
goes in one batch. Nothing waits on a timer: at low load a lookup starts on the next turn of the
loop, alone; under load the batches grow with the queue. Each batch is read after its requests
arrived, so an answer is as fresh as a lookup of its own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")


class Coalescer(Generic[Q, A]):
    """``look_up(queries)`` answers through ``run``, batched with whatever else is waiting;
    ``run`` answers a list of queries with one answer each, in order."""

    def __init__(self, run: Callable[[list[Q]], Awaitable[list[A]]], *, at_once: int, most: int) -> None:
        self.run, self.at_once, self.most = run, at_once, most
        self._waiting: deque[tuple[list[Q], asyncio.Future[list[A]]]] = deque()
        self._running = 0
        self._started = False  # a start is scheduled for the loop's next turn
        self._tasks: set[asyncio.Task[None]] = set()  # held, so a batch is not collected mid-flight

    async def look_up(self, queries: list[Q]) -> list[A]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[A]] = loop.create_future()
        self._waiting.append((queries, answer))
        self._schedule(loop)
        return await answer

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # on the next turn, so the requests this turn parsed join the batch
        if not self._started and self._running < self.at_once:
            self._started = True
            loop.call_soon(self._start)

    def _start(self) -> None:
        self._started = False
        while self._waiting and self._running < self.at_once:
            batch: list[tuple[list[Q], asyncio.Future[list[A]]]] = []
            size = 0
            while self._waiting and (not batch or size + len(self._waiting[0][0]) <= self.most):
                queries, answer = self._waiting.popleft()
                if not answer.done():  # its request went away (cancelled): nothing to look up
                    batch.append((queries, answer))
                    size += len(queries)
            if batch:
                self._running += 1
                task = asyncio.get_running_loop().create_task(self._answer(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer(self, batch: list[tuple[list[Q], asyncio.Future[list[A]]]]) -> None:
        try:
            found = await self.run([query for queries, _ in batch for query in queries])
        except BaseException as exc:  # an outage is every waiting request's answer
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            at = 0
            for queries, answer in batch:
                if not answer.done():
                    answer.set_result(found[at:at + len(queries)])
                at += len(queries)
        finally:
            self._running -= 1
            if self._waiting:
                self._schedule(asyncio.get_running_loop())
