"""Lookups that arrive together are answered together (``http/coalesce.py``): the rules on a real
event loop, then against a real `optout serve` on both databases, where 300 concurrent GETs, each
asking its own mix of listed and unknown queries, each get their own answers."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from optout.http.coalesce import Coalescer
from web import mint


class Recorder:
    """A ``run`` that answers each query with itself doubled, holding each batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self.release = asyncio.Event()
        self.fail: BaseException | None = None

    async def run(self, queries: list[int]) -> list[int]:
        self.batches.append(list(queries))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
            return [q * 2 for q in queries]
        finally:
            self.running -= 1


async def _settled(condition, turns: int = 100) -> None:  # noqa: ANN001
    """Let the loop turn until ``condition()`` holds (an event, not a sleep)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop never got there")


def test_requests_waiting_for_a_free_slot_go_in_one_batch_each_with_its_own_answers() -> None:
    async def scenario() -> None:
        rec = Recorder()
        together = Coalescer(rec.run, at_once=1, most=1000)
        first = asyncio.create_task(together.look_up([1]))
        await _settled(lambda: rec.running == 1)
        rest = [asyncio.create_task(together.look_up([n, n + 100])) for n in range(2, 12)]
        await _settled(lambda: all(not t.done() for t in rest) and len(together._waiting) == 10)
        rec.release.set()
        assert await first == [2]
        answers = await asyncio.gather(*rest)
        assert answers == [[2 * n, 2 * (n + 100)] for n in range(2, 12)]
        assert len(rec.batches) == 2 and len(rec.batches[1]) == 20  # ten requests, one round trip
        assert rec.most_running == 1

    asyncio.run(scenario())


def test_no_more_batches_at_once_than_allowed_and_none_larger_than_most() -> None:
    async def scenario() -> None:
        rec = Recorder()
        together = Coalescer(rec.run, at_once=2, most=5)
        tasks = [asyncio.create_task(together.look_up([n, n, n])) for n in range(10)]
        await _settled(lambda: rec.running == 2)
        rec.release.set()
        assert await asyncio.gather(*tasks) == [[2 * n] * 3 for n in range(10)]
        assert rec.most_running == 2
        assert all(len(batch) <= 5 or len(batch) == 3 for batch in rec.batches)
        assert sum(len(batch) for batch in rec.batches) == 30

    asyncio.run(scenario())


def test_a_failed_batch_fails_each_of_its_requests_and_the_next_batch_still_runs() -> None:
    async def scenario() -> None:
        rec = Recorder()
        together = Coalescer(rec.run, at_once=1, most=100)
        rec.fail = ConnectionError("server went away")
        doomed = [asyncio.create_task(together.look_up([n])) for n in range(3)]
        await _settled(lambda: rec.running == 1)
        rec.release.set()
        for task in doomed:
            with pytest.raises(ConnectionError):
                await task
        rec.fail = None
        assert await together.look_up([21]) == [42]

    asyncio.run(scenario())


def test_a_request_that_went_away_is_left_out_and_the_others_are_answered() -> None:
    async def scenario() -> None:
        rec = Recorder()
        together = Coalescer(rec.run, at_once=1, most=100)
        busy = asyncio.create_task(together.look_up([1]))
        await _settled(lambda: rec.running == 1)
        gone = asyncio.create_task(together.look_up([7]))
        kept = asyncio.create_task(together.look_up([8]))
        await _settled(lambda: len(together._waiting) == 2)
        gone.cancel()
        rec.release.set()
        assert await busy == [2] and await kept == [16]
        assert gone.cancelled() and [7] not in rec.batches and rec.batches[-1] == [8]

    asyncio.run(scenario())


def test_concurrent_lookups_over_http_each_get_their_own_answers(cli, serve) -> None:
    """300 requests at once, 32 connections, each with its own two queries (one listed, one
    not): every answer names exactly its queries, in order, listed as stored."""
    listed = [f"1{n:02d}-1000000-{n:07d}" for n in range(50)]
    for value in listed:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    key = mint(cli, "read", "acme")

    async def scenario() -> list[tuple[list[str], dict]]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=serve.base, headers={"Authorization": f"Bearer {key}"},
                                     limits=limits, timeout=60) as client:
            async def one(n: int) -> tuple[list[str], dict]:
                asked = [listed[n % 50], f"nobody{n}@example.com"]
                answer = await client.get("/v1/check", params=[("q", q) for q in asked])
                assert answer.status_code == 200, answer.text
                return asked, json.loads(answer.text)

            return await asyncio.gather(*(one(n) for n in range(300)))

    for asked, answer in asyncio.run(scenario()):
        results = answer["results"]
        assert [r["query"] for r in results] == asked
        assert [r["listed"] for r in results] == [True, False]
