"""The listener's worker process: recognition, DKIM and group commit, off the event loop.

The SMTP process only speaks SMTP. When a message's DATA ends it sends the message to this
process over a socket pair and awaits its outcome. The worker recognises each message as it
arrives and commits when nothing more is waiting (or ``group_commit_size`` messages are
recognised): messages that arrive together share one transaction and one fsync, and each
gets its 250 only once that transaction has committed. Recognising on arrival means the
worker parses one message while the listener is still receiving the next.

Recognition is pure Python, so a thread would share the event loop's interpreter lock; a
process uses the machine's other core. The parent's end is an asyncio protocol, not a
ProcessPoolExecutor, whose feeder and result threads took the interpreter lock from the event
loop on every call. The socket pair also ends the worker when the listener dies, even by
SIGKILL: the worker reads end-of-file and exits.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import pickle
import select
import signal
import socket
import struct
import time
from typing import Any

FRAME = struct.Struct("!I")  # each request and each group of replies is a length-prefixed pickle
PING = "ping"


class WorkerGone(Exception):
    """The worker failed, died or hung; what it was doing is not known to be committed."""


class Worker:
    """The listener's end: ``submit`` one message's items and await their committed outcomes."""

    def __init__(self, settings_data: dict[str, Any], *, timeout: float) -> None:
        self.settings_data, self.timeout = settings_data, timeout
        self.process: Any = None
        self.link: _Link | None = None
        self.watchdog: asyncio.Task[None] | None = None
        self.ids = itertools.count(1)
        self.restarting = asyncio.Lock()

    async def start(self) -> None:
        """Spawn the worker and wait until it is connected to the database."""
        mine, theirs = socket.socketpair()
        # spawn, not fork: the listener has threads, and a forked copy of a held lock deadlocks
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs, self.settings_data), name="optout-worker", daemon=True)
        self.process.start()
        theirs.close()
        _, self.link = await asyncio.get_running_loop().create_unix_connection(_Link, sock=mine)
        self.watchdog = asyncio.create_task(self._watch(self.link, self.process), name="worker-watchdog")
        await self._answer(self.link.send(next(self.ids), PING))

    async def submit(self, request: Any) -> Any:
        """The worker's answer to ``request``; WorkerGone if it failed, died or took too long."""
        if self.link is None or self.link.gone:
            async with self.restarting:  # one restart, however many sessions find it gone
                if self.link is None or self.link.gone:
                    await self.stop()
                    await self.start()
        assert self.link is not None
        return await self._answer(self.link.send(next(self.ids), request))

    @staticmethod
    async def _answer(reply: asyncio.Future[tuple[str, Any]]) -> Any:
        status, value = await reply
        if status != "ok":
            raise WorkerGone(value)
        return value

    async def _watch(self, link: _Link, process: Any) -> None:
        """Kill a worker that has left a request unanswered for ``timeout`` seconds.

        One check a second, rather than a timer per message: a timer per message cost the
        event loop more than the rest of handing the message over.
        """
        while not link.gone:
            await asyncio.sleep(min(1.0, self.timeout / 4))
            if link.waiting and time.monotonic() - link.oldest() > self.timeout:
                process.kill()
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
        self.waiting: dict[int, tuple[asyncio.Future[tuple[str, Any]], float]] = {}  # oldest first
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def send(self, request_id: int, request: Any) -> asyncio.Future[tuple[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = (future, time.monotonic())
        payload = pickle.dumps((request_id, request), protocol=pickle.HIGHEST_PROTOCOL)
        self.transport.write(FRAME.pack(len(payload)) + payload)
        return future

    def oldest(self) -> float:
        """When the longest-waiting request was sent."""
        return next(iter(self.waiting.values()))[1]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(self.buffer)
            if len(self.buffer) < FRAME.size + size:
                return
            replies = pickle.loads(self.buffer[FRAME.size : FRAME.size + size])
            del self.buffer[: FRAME.size + size]
            for request_id, status, value in replies:
                future, _ = self.waiting.pop(request_id, (None, 0.0))
                if future is not None and not future.done():
                    future.set_result((status, value))

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


# --- the worker process ---------------------------------------------------------------------

_state: dict[str, Any] = {}


def _serve(sock: socket.socket, settings_data: dict[str, Any]) -> None:
    """Recognise requests as they come; commit and answer a group when none is waiting."""
    # SIGTERM to the whole process group (systemd's default) or Ctrl-C in a terminal reaches
    # this process too; the listener still has messages to finish, so the worker stays until
    # the listener closes its end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    start(settings_data)
    frames = _Frames(sock)
    group: list[tuple[int, list[Any]]] = []
    while True:
        request = frames.read(wait=not group)
        if request is not None:
            request_id, body = request
            if body == PING:
                frames.send([(request_id, "ok", True)])
                continue
            group.append((request_id, recognise(body)))
            if len(group) < _state["size"]:
                continue
        if group:
            frames.send(commit(group))
            group = []
        elif frames.closed:
            return


class _Frames:
    """The worker's end of the socket pair: whole frames in, replies out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.closed = sock, bytearray(), False

    def read(self, *, wait: bool) -> Any:
        """The next request; None at end-of-file, or (when not waiting) if none has arrived."""
        while True:
            if len(self.buffer) >= FRAME.size:
                (size,) = FRAME.unpack_from(self.buffer)
                if len(self.buffer) >= FRAME.size + size:
                    frame = self.buffer[FRAME.size : FRAME.size + size]
                    del self.buffer[: FRAME.size + size]
                    return pickle.loads(frame)
            if self.closed or (not wait and not select.select([self.sock], [], [], 0)[0]):
                return None
            chunk = self.sock.recv(1 << 20)
            self.closed = not chunk
            self.buffer += chunk

    def send(self, replies: list[tuple[int, str, Any]]) -> None:
        payload = pickle.dumps(replies, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.sock.sendall(FRAME.pack(len(payload)) + payload)
        except OSError:  # the listener is gone; what was committed stays committed
            self.closed = True


def start(settings_data: dict[str, Any]) -> None:
    """One engine, DKIM verifier and policy for the life of the process."""
    from optout.config import Settings
    from optout.record import trust
    from optout.store import db

    cfg = Settings(**settings_data)
    _state["engine"] = db.engine(cfg, check_schema=False)
    _state["verifier"] = trust.Verifier(cfg)
    _state["policy"] = trust.policy(cfg)
    _state["size"] = cfg.group_commit_size


def recognise(messages: list[tuple[bytes, int, str | None, str | None, str | None]]) -> list[Any]:
    """Items ready to apply for one message's (raw, account ID, MAIL FROM, RCPT, peer) tuples."""
    from optout.recognise import parse
    from optout.record import ingest

    items, verdict = [], None  # one parse for a message sent to several accounts
    for raw, account_id, mail_from, rcpt, peer in messages:
        if verdict is None:
            result = parse(raw)
            verdict = (result, _state["verifier"].check(result))
        inbound = ingest.Inbound(raw=raw, account_id=account_id, mail_from=mail_from, rcpt=rcpt, peer=peer)
        items.append(ingest.Item(inbound, *verdict))
    return items


def commit(group: list[tuple[int, list[Any]]]) -> list[tuple[int, str, Any]]:
    """Apply a group in one transaction: a reply per request. If the group fails, its requests
    are tried one by one, so one bad message cannot cost the others their 250."""
    from optout.record import ingest

    try:
        with _state["engine"].begin() as conn:
            outcomes = ingest.apply_many(conn, items=[i for _, items in group for i in items],
                                         policy=_state["policy"])
    except Exception as exc:  # the database is down, say: the listener answers 451
        if len(group) > 1:
            return [reply for request in group for reply in commit([request])]
        return [(group[0][0], "error", _describe(exc))]
    replies, offset = [], 0
    for request_id, items in group:
        done = outcomes[offset : offset + len(items)]
        offset += len(items)
        replies.append((request_id, "ok", [
            {"outcome": o.outcome, "reason": o.reason, "kind": i.result.kind, "order_id": i.result.order_id,
             "dkim": i.dkim[0]} for i, o in zip(items, done)]))
    return replies


def _describe(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"
