"""The listener's worker process: recognition, DKIM and the database writes, off the event loop.

The SMTP process only speaks SMTP. It hands each group of messages to this process over a
socket pair and awaits the committed outcomes. Recognition is pure Python, so a thread would
share the event loop's interpreter lock; a process uses the machine's other core.

The parent's end is an asyncio protocol, not a ProcessPoolExecutor: the executor's feeder and
result threads took the interpreter lock from the event loop on every group, which cost the
listener about a tenth of its throughput. The socket pair also ends the worker when the
listener dies, even by SIGKILL: the worker reads end-of-file and exits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import socket
import struct
from typing import Any

FRAME = struct.Struct("!I")  # each request and reply is a length-prefixed pickle


class WorkerGone(Exception):
    """The worker died or could not answer; whatever it was doing is not known to be committed."""


class Worker:
    """The listener's end: one request at a time (the group committer sends one group at a time)."""

    def __init__(self, settings_data: dict[str, Any]) -> None:
        self.settings_data = settings_data
        self.process: Any = None
        self.link: _Link | None = None

    async def start(self) -> None:
        """Spawn the worker and wait until it is connected to the database."""
        mine, theirs = socket.socketpair()
        # spawn, not fork: the listener has threads, and a forked copy of a held lock deadlocks
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(theirs, self.settings_data), name="optout-worker", daemon=True)
        self.process.start()
        theirs.close()
        _, self.link = await asyncio.get_running_loop().create_unix_connection(_Link, sock=mine)
        await self.call("ping")

    async def call(self, request: Any) -> Any:
        """Send ``request``; return the worker's reply or raise what it raised (as WorkerGone)."""
        if self.link is None or self.link.gone:
            await self.stop()
            await self.start()
        assert self.link is not None
        status, value = await self.link.ask(request)
        if status != "ok":
            raise WorkerGone(value)
        return value

    async def stop(self, timeout: float = 10) -> None:
        """Close our end (the worker reads end-of-file and exits) and reap it."""
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.process is not None:
            await asyncio.to_thread(self.process.join, timeout)
            if self.process.is_alive():
                self.process.kill()
                await asyncio.to_thread(self.process.join)
            self.process = None


class _Link(asyncio.Protocol):
    """Frames on the parent's end of the socket pair; at most one request outstanding."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiting: asyncio.Future[tuple[str, Any]] | None = None
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    async def ask(self, request: Any) -> tuple[str, Any]:
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(FRAME.pack(len(payload)) + payload)
        try:
            return await self.waiting
        finally:
            self.waiting = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < FRAME.size:
            return
        (size,) = FRAME.unpack_from(self.buffer)
        if len(self.buffer) < FRAME.size + size:
            return
        reply = pickle.loads(self.buffer[FRAME.size : FRAME.size + size])
        del self.buffer[: FRAME.size + size]
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(WorkerGone("the worker process exited"))

    def close(self) -> None:
        self.gone = True
        self.transport.close()


# --- the worker process ---------------------------------------------------------------------

_state: dict[str, Any] = {}


def _serve(sock: socket.socket, settings_data: dict[str, Any]) -> None:
    """Answer requests until the listener closes its end (or dies)."""
    start(settings_data)
    reader = sock.makefile("rb")
    while header := reader.read(FRAME.size):
        if len(header) < FRAME.size:
            break
        request = pickle.loads(reader.read(FRAME.unpack(header)[0]))
        try:
            reply = ("ok", True if request == "ping" else process(request))
        except Exception as exc:  # the database is down, say: the listener answers 451
            reply = ("error", f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}")
        payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        sock.sendall(FRAME.pack(len(payload)) + payload)


def start(settings_data: dict[str, Any]) -> None:
    """One engine, DKIM verifier and policy for the life of the process."""
    from optout import db, trust
    from optout.config import Settings

    cfg = Settings(**settings_data)
    _state["engine"] = db.engine(cfg, check_schema=False)
    _state["verifier"] = trust.Verifier(cfg)
    _state["policy"] = trust.policy(cfg)


def process(messages: list[tuple[bytes, int, str | None, str | None, str | None]]) -> list[dict[str, Any]]:
    """Recognise and commit a group of (raw, account ID, MAIL FROM, RCPT, peer) in one transaction."""
    from optout import ingest
    from optout.parse import parse

    verdicts: dict[bytes, tuple[Any, Any]] = {}  # one parse for a message sent to several accounts
    items = []
    for raw, account_id, mail_from, rcpt, peer in messages:
        if raw not in verdicts:
            result = parse(raw)
            verdicts[raw] = (result, _state["verifier"].check(result))
        result, dkim = verdicts[raw]
        inbound = ingest.Inbound(raw=raw, account_id=account_id, mail_from=mail_from, rcpt=rcpt, peer=peer)
        items.append(ingest.Item(inbound, result, dkim))
    with _state["engine"].begin() as conn:
        outcomes = ingest.apply_many(conn, items=items, policy=_state["policy"])
    return [{"outcome": o.outcome, "reason": o.reason, "kind": i.result.kind, "order_id": i.result.order_id,
             "dkim": i.dkim[0]} for i, o in zip(items, outcomes)]
