"""The listener's worker process: recognition, DKIM and group commit, off the event loop.

The SMTP process only speaks SMTP. When a message's DATA ends it sends the message to this
process over a socket pair and awaits its outcome. The worker recognises each message as it
arrives and commits when nothing more is waiting (or ``group_commit_size`` messages are
recognised): messages that arrive together share one transaction and one fsync, and each
gets its 250 only once that transaction has committed. Recognising on arrival means the
worker parses one message while the listener is still receiving the next.

Recognition is pure Python, so a thread would share the event loop's interpreter lock; a
process uses the machine's other core. The listener's end is ``listener/handoff.py``. The
socket pair also ends the worker when the listener dies, even by SIGKILL: the worker reads
end-of-file and exits. Nothing heavy is imported at module level: the listener imports this
module for its frame format only.
"""

from __future__ import annotations

import pickle
import select
import signal
import socket
import struct
import time
from typing import Any

LATE = "recognition took too long"
FRAME = struct.Struct("!I")  # each request and each group of replies is a length-prefixed pickle
PING = "ping"
_state: dict[str, Any] = {}


def serve_forever(sock: socket.socket, settings_data: dict[str, Any]) -> None:
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
            if isinstance(body, tuple) and body[0] == "refusals":
                frames.send([record_refusals(request_id, body[1])])
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
    _state["deadline"] = cfg.recognition_timeout
    signal.signal(signal.SIGALRM, _on_alarm)


class _Late(BaseException):
    """Recognition ran past its deadline. A BaseException, so that recognition's own
    catch-all (which turns any Exception into "unparseable") does not swallow it."""


def _on_alarm(signum: int, frame: Any) -> None:
    if _state.get("parsing"):
        raise _Late


def parse_within_deadline(raw: bytes) -> Any:
    """Recognise ``raw``, or give up after the deadline: the message is then kept in quarantine
    (and answered 250) like anything else not recognised, so a poison message costs no other
    message its reply, and its sender has no reason to send it again."""
    from optout.recognise import parse
    from optout.recognise.result import other

    seconds = _state["deadline"]
    _state["parsing"] = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        result = parse(raw)
        _state["parsing"] = False  # inside the try: an alarm that fired before this is caught below
    except _Late:
        result = other(f"{LATE} (over {seconds:g} s)")
    finally:
        _state["parsing"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
    return result


def recognise(messages: list[tuple[bytes, int, str | None, str | None, str | None]]) -> list[Any]:
    """Items ready to apply for one message's (raw, account ID, MAIL FROM, RCPT, peer) tuples."""
    from optout.record import ingest

    items, verdict = [], None  # one parse for a message sent to several accounts
    for raw, account_id, mail_from, rcpt, peer in messages:
        if verdict is None:
            result = parse_within_deadline(raw)
            verdict = (result, _state["verifier"].check(result))
        inbound = ingest.Inbound(raw=raw, account_id=account_id, mail_from=mail_from, rcpt=rcpt, peer=peer)
        items.append(ingest.Item(inbound, *verdict))
    return items


def commit(group: list[tuple[int, list[Any]]]) -> list[tuple[int, str, Any]]:
    """Apply a group in one transaction: a reply per request. If the database itself is the
    trouble (unreachable, locked, read-only), every request gets its error at once and the
    listener answers 451; otherwise the requests are tried one by one, so one bad message
    cannot cost the others their 250."""
    from optout.record import ingest

    started = time.perf_counter()
    try:
        with _state["engine"].begin() as conn:
            outcomes = ingest.apply_many(conn, items=[i for _, items in group for i in items],
                                         policy=_state["policy"])
    except Exception as exc:
        if len(group) > 1 and not _database_trouble(exc):
            return [reply for request in group for reply in commit([request])]
        return [(request_id, "error", _describe(exc)) for request_id, _ in group]
    took = time.perf_counter() - started
    replies, offset = [], 0
    for request_id, items in group:
        done = outcomes[offset : offset + len(items)]
        offset += len(items)
        replies.append((request_id, "ok", [
            {"outcome": str(o.outcome), "reason": o.reason, "kind": i.result.kind, "order_id": i.result.order_id,
             "dkim": i.dkim[0], "how": i.result.how, "language": i.result.language,
             "late": i.result.reason.startswith(LATE), "commit_s": took if index == 0 else None}
            for index, (i, o) in enumerate(zip(items, done))]))
    return replies


def record_refusals(request_id: int, rows: list[tuple[str, str, int, int]]) -> tuple[int, str, Any]:
    """Add the listener's refused-recipient counts (day, client, refused, blocked) to the table."""
    from optout.store import bulk, sql

    try:
        with _state["engine"].begin() as conn:
            bulk.insert(conn, table="refusal", columns=("day", "client", "refused", "blocked"), rows=rows,
                        tail=sql.REFUSALS_ADD)
    except Exception as exc:
        return request_id, "error", _describe(exc)
    return request_id, "ok", len(rows)


def _database_trouble(exc: Exception) -> bool:
    """Is the database the problem, so that trying each message alone would only wait again?
    (Locked, unreachable, out of space: OperationalError; a broken connection: InterfaceError.)"""
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout))


def _describe(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"
