"""Group commit: messages that arrive together are written in one transaction, one fsync.

Each SMTP session hands its message to ``submit`` and waits; a single writer task takes
everything queued (up to ``size`` items), has it applied in one transaction (in the worker
process), and then answers every waiter. While one transaction commits, the next batch gathers. If a batch
fails, its items are retried one by one, so one bad item cannot cost the others their 250.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("optout.smtp")


@dataclass(slots=True)
class _Job:
    items: list[Any]
    future: asyncio.Future[list[Any]]


class GroupCommitter:
    """Awaits ``write(items) -> outcomes`` for batches of queued items, one batch at a time."""

    def __init__(self, write: Callable[[list[Any]], Awaitable[list[Any]]], *, size: int) -> None:
        self.write = write
        self.size = size
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def submit(self, items: list[Any]) -> list[Any]:
        """Outcomes for ``items`` once they are committed; raises if they could not be."""
        job = _Job(items, asyncio.get_running_loop().create_future())
        await self.queue.put(job)
        return await job.future

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        await self.queue.join()
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            jobs = [await self.queue.get()]
            while len(jobs) < self.size and not self.queue.empty():
                jobs.append(self.queue.get_nowait())
            try:
                await self._commit(jobs)
            finally:
                for _ in jobs:
                    self.queue.task_done()

    async def _commit(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            outcomes = await self.write(items)
        except Exception as exc:
            if len(jobs) == 1:
                _settle(jobs[0], exc)
                return
            log.warning("group commit of %d messages failed (%s); retrying one by one", len(jobs), exc)
            for job in jobs:
                await self._commit([job])
            return
        start = 0
        for job in jobs:
            _settle(job, outcomes[start : start + len(job.items)])
            start += len(job.items)


def _settle(job: _Job, value: list[Any] | BaseException) -> None:
    if job.future.done():  # the session went away while it waited
        return
    if isinstance(value, BaseException):
        job.future.set_exception(value)
    else:
        job.future.set_result(value)
