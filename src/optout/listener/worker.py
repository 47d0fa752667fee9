"""The listener's worker process: recognition, DKIM and group commit, off the event loop.

The SMTP process only speaks SMTP. When a message's DATA ends it sends the message to this
process over a socket pair and awaits its outcome. The worker recognises each message as it
arrives and commits when nothing more is waiting (or ``group_commit_size`` messages are
recognised): messages that arrive together share one transaction and one fsync, and each
gets its 250 only once that transaction has committed. Recognising on arrival means the
worker parses one message while the listener is still receiving the next.

Recognition is pure Python, so a thread would share the event loop's interpreter lock; a
process uses the machine's other core. The listener's end is ``listener/handoff.py``; what they
say to each other is ``listener/protocol.py``. The socket pair also ends the worker when the
listener dies, even by SIGKILL: the worker reads end-of-file and exits. Nothing heavy is
imported at module level: the listener imports this module to start the process.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from optout import heap
from optout.listener.protocol import Delivery, Outcome, Ping, Refusals, Reply, Request, frame, unframe

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from optout.config import Settings
    from optout.recognise.result import Result
    from optout.record import ingest, trust

LATE = "recognition took too long"
WORDINGS_EVERY = 2.0  # seconds: a wording taught anywhere is used here within this


def serve_forever(sock: socket.socket, settings: Settings) -> None:
    """Recognise requests as they come; commit and answer a group when none is waiting."""
    # SIGTERM to the whole process group (systemd's default) or Ctrl-C in a terminal reaches
    # this process too; the listener still has messages to finish, so the worker stays until
    # the listener closes its end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = Worker.start(settings)
    heap.settle()
    frames = _Frames(sock)
    group: list[tuple[int, list[ingest.Item]]] = []
    while True:
        framed = frames.read(wait=not group)
        if framed is not None:
            request_id, request = framed
            if isinstance(request, Ping):
                frames.send([Reply(request_id)])
                continue
            if isinstance(request, Refusals):
                frames.send([worker.record_refusals(request_id, request)])
                continue
            group.append((request_id, worker.recognise(request)))
            if len(group) < worker.group_size:
                continue
        if group:
            frames.send(worker.commit(group))
            group = []
        elif frames.closed:
            return


class _Frames:
    """The worker's end of the socket pair: whole frames in, replies out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.closed = sock, bytearray(), False

    def read(self, *, wait: bool) -> tuple[int, Request] | None:
        """The next (request ID, request); None at end-of-file, or (when not waiting) if none
        has arrived."""
        while True:
            framed = unframe(self.buffer)
            if framed is not None:
                return cast(tuple[int, Request], framed)
            if self.closed or (not wait and not select.select([self.sock], [], [], 0)[0]):
                return None
            chunk = self.sock.recv(1 << 20)
            self.closed = not chunk
            self.buffer += chunk

    def send(self, replies: list[Reply]) -> None:
        try:
            self.sock.sendall(frame(replies))
        except OSError:  # the listener is gone; what was committed stays committed
            self.closed = True


class _Late(BaseException):
    """Recognition ran past its deadline. A BaseException, so that recognition's own
    catch-all (which turns any Exception into "unparseable") does not swallow it."""


@dataclass
class Worker:
    """What the worker process keeps for its life: one engine, DKIM verifier and policy."""

    engine: Engine
    reads: Engine
    verifier: trust.Verifier
    policy: ingest.Policy
    group_size: int
    deadline: float
    parsing: bool = False
    wordings_read: float = -WORDINGS_EVERY  # when the taught wordings were last read (monotonic)

    @classmethod
    def start(cls, cfg: Settings) -> Worker:
        from optout.record import trust
        from optout.store import db

        # psycopg warns of a pipeline ended by a lost connection; _apply tries again, and the
        # listener logs what became of each message
        logging.getLogger("psycopg").setLevel(logging.ERROR)
        worker = cls(db.group_writer(cfg), db.read_only(cfg, check_schema=False), trust.Verifier(cfg), trust.policy(cfg),
                     cfg.group_commit_size, cfg.recognition_timeout)
        signal.signal(signal.SIGALRM, worker._on_alarm)
        return worker

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self.parsing:
            raise _Late

    def parse_within_deadline(self, raw: bytes) -> Result:
        """Recognise ``raw``, or give up after the deadline: the message is then kept in quarantine
        (and answered 250) like anything else not recognised, so a poison message costs no other
        message its reply, and its sender has no reason to send it again."""
        from optout.recognise import parse
        from optout.recognise.result import other

        self.parsing = True
        signal.setitimer(signal.ITIMER_REAL, self.deadline)
        try:
            result = parse(raw)
            self.parsing = False  # inside the try: an alarm that fired before this is caught below
        except _Late:
            result = other(f"{LATE} (over {self.deadline:g} s)")
        finally:
            self.parsing = False
            signal.setitimer(signal.ITIMER_REAL, 0)
        return result

    def recognise(self, delivery: Delivery) -> list[ingest.Item]:
        """One item ready to apply per recipient account; the message is parsed once."""
        from optout.record import ingest

        self._read_wordings()
        result = self.parse_within_deadline(delivery.raw)
        if result.group is not None and self._read_wordings(force=True):
            # a possible notice in an unknown language: the operator may have just taught its
            # wording (the regular read is up to WORDINGS_EVERY old), so look again before keeping it
            result = self.parse_within_deadline(delivery.raw)
        first, *more = self.verifier.checks(result)  # once, whatever the number of accounts
        return [ingest.Item(ingest.Inbound(raw=delivery.raw, account_id=account_id, mail_from=delivery.mail_from,
                                           rcpt=rcpt, peer=delivery.peer), result, first, tuple(more))
                for rcpt, account_id in delivery.recipients]

    def _read_wordings(self, *, force: bool = False) -> bool:
        """Pick up wordings taught since the last read (by any process sharing the database):
        at most one small query every WORDINGS_EVERY seconds, or now with ``force``. True if
        they changed. If the database is away, the ones read before serve; the commit will say
        what the trouble is."""
        from optout.recognise import wordings as recognised
        from optout.record import wordings

        if not force and time.monotonic() - self.wordings_read < WORDINGS_EVERY:
            return False
        before = recognised.current()
        self.wordings_read = time.monotonic()  # tried: an outage is not tried again for every message
        try:
            with self.reads.connect() as conn:  # a reader: on SQLite it never waits for the write lock
                wordings.refresh(conn)
        except Exception:  # an outage: the commit answers 451 for it
            return False
        return recognised.current() != before

    def commit(self, group: list[tuple[int, list[ingest.Item]]]) -> list[Reply]:
        """Apply a group in one transaction: a reply per request. If the database itself is the
        trouble (unreachable, locked, read-only), every request gets its error at once and the
        listener answers 451; otherwise the requests are tried one by one, so one bad message
        cannot cost the others their 250."""
        from optout.errors import is_outage

        started = time.perf_counter()
        try:
            applied = self._apply([i for _, items in group for i in items])
        except Exception as exc:
            if len(group) > 1 and not is_outage(exc):
                return [reply for request in group for reply in self.commit([request])]
            return [Reply(request_id, error=_describe(exc)) for request_id, _ in group]
        took = time.perf_counter() - started
        replies, offset = [], 0
        for request_id, items in group:
            done = applied[offset : offset + len(items)]
            offset += len(items)
            replies.append(Reply(request_id, tuple(
                Outcome(str(a.outcome), a.reason, i.result.kind, i.result.order_id, i.dkim[0], i.result.how,
                        i.result.language, i.result.reason.startswith(LATE), took if index == 0 else None,
                        i.result.wording, a.notices, a.listed)
                for index, (i, a) in enumerate(zip(items, done)))))
        return replies

    def _apply(self, items: list[ingest.Item], *, tries: int = 3) -> list[ingest.Applied]:
        """``items`` applied in one transaction, whose statements and commit go out together
        (``bulk.pipeline``). Tried again on a new connection if the one the pool gave had died (it
        does not ping at checkout): safe even if the first commit did land, as the second finds
        each message there already and calls it a duplicate. Tried again as it was if PostgreSQL
        rolled it back to break a deadlock: another listener's group can hold the same messages'
        keys, locked in the other order (a group's messages go in in arrival order, which their
        IDs keep)."""
        from optout.errors import is_conflict
        from optout.record import ingest
        from optout.store import bulk

        with self.engine.connect() as conn:
            try:
                with bulk.pipeline(conn), conn.begin():  # the commit inside: it goes with the last writes
                    return ingest.apply_many(conn, items=items, policy=self.policy)
            except Exception as exc:
                if bulk.lost(conn):
                    conn.invalidate()
                elif not is_conflict(exc):
                    raise
                if tries <= 1:
                    raise
        return self._apply(items, tries=tries - 1)

    def record_refusals(self, request_id: int, refusals: Refusals) -> Reply:
        """Add the listener's refused-recipient counts (day, client, refused, blocked) to the table."""
        from optout.record import refusals as counted

        try:
            with self.engine.begin() as conn:
                counted.add(conn, rows=refusals.rows)
        except Exception as exc:
            return Reply(request_id, error=_describe(exc))
        return Reply(request_id)


def _describe(exc: Exception) -> str:
    from optout.errors import first_line

    return f"{type(exc).__name__}: {first_line(exc, 300)}"
