"""The SMTP listener: routes by envelope recipient, answers 250 only once the message is committed.

Reply codes are named below. Each message goes to the worker process, which recognises it,
checks DKIM and commits it with whatever else arrived at the same time; the event loop itself
only speaks SMTP.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import re
import time
from collections import Counter, deque
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax
from cachetools import LRUCache

from optout.clock import today
from optout.errors import first_line
from optout.listener import body, metrics
from optout.listener.handoff import Worker
from optout.listener.protocol import Delivery, Outcome
from optout.record import accounts

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from optout.config import Settings

log = logging.getLogger("optout.listener.smtp")

OK = "250 2.0.0 OK: {count} message(s) kept, {outcome}"
NOTICES = "; {notices} notice(s), {listed} listed"  # after OK, for mail that carries notices
NO_SUCH_USER = "550 5.1.1 No such recipient here"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TRY_LATER = "451 4.3.0 Cannot store the message now; try again later"
TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections from your address\r\n"
TRANSACTION_TOO_LONG = b"421 4.4.2 Mail transaction took too long; try again\r\n"
GUESSING = "421 4.7.0 Too many unknown recipients from your address; try again later"
ACCOUNT_CACHE_SECONDS = 2.0
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"[ \t]*<(?P<addr>{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?P<rest>(?:[ \t].*)?)\Z")


class AccountCache:
    """Enabled accounts by slug, reread at most every few seconds and on a miss.

    Routing every RCPT through the database would put a query on the hot path; the cache means
    a disabled or rotated address stops routing within ACCOUNT_CACHE_SECONDS.
    """

    def __init__(self, engine: Engine, domain: str, *, timeout: float) -> None:
        self.engine, self.domain, self.timeout = engine, domain, timeout
        self.loaded_at = 0.0
        self.by_slug: dict[str, dict[str, Any]] = {}
        self.loading: asyncio.Future[None] | None = None

    def _load(self) -> None:
        with self.engine.connect() as conn:
            self.by_slug = accounts.routing_table(conn)
        self.loaded_at = time.monotonic()

    def cached(self, recipient: str) -> dict[str, Any] | None:
        return accounts.match_recipient(self.by_slug, recipient=recipient, domain=self.domain)

    async def route(self, recipient: str) -> dict[str, Any] | None:
        """Reload when stale, and on a miss (a new account) at most five times a second."""
        age = time.monotonic() - self.loaded_at
        found = self.cached(recipient)
        if age > ACCOUNT_CACHE_SECONDS or (found is None and age > 0.2):
            await self._reload()
            found = self.cached(recipient)
        return found

    async def _reload(self) -> None:
        """One reload at a time, awaited at most ``timeout`` seconds (TimeoutError past it): a
        frozen database must cost the sender a 451 in seconds, not a hung RCPT. The reload
        itself goes on in its thread, and the next RCPT waits for the same one."""
        if self.loading is None or self.loading.done():
            self.loading = asyncio.ensure_future(asyncio.to_thread(self._load))
        await asyncio.wait_for(asyncio.shield(self.loading), self.timeout)


class Handler:
    """aiosmtpd handler: RCPT picks the accounts, DATA stores and recognises."""

    def __init__(self, cfg: Settings, *, reads: Engine) -> None:
        self.cfg = cfg
        self.routes = AccountCache(reads, cfg.ingest_domain, timeout=cfg.db_timeout)
        self.worker = Worker(cfg, timeout=cfg.worker_timeout)
        self.in_flight = 0
        self.per_client: Counter[str] = Counter()
        self.guesses = Guesses(cfg)
        self.relays = cfg.relay_networks
        self.trusted_cache: LRUCache[str, bool] = LRUCache(maxsize=10_000)

    def trusted(self, client: str) -> bool:
        """Is ``client`` the MTA in front of us (setting trusted_relays)?"""
        found = self.trusted_cache.get(client)
        if found is None:
            try:
                address = ipaddress.ip_address(client)
                found = any(address in network for network in self.relays)
            except ValueError:  # a Unix socket peer, say
                found = False
            self.trusted_cache[client] = found
        return found

    async def handle_PROXY(self, server: SMTP, session: Session, envelope: Envelope, proxy: Any) -> bool:
        """Behind a load balancer: log, and limit connections by, the client the header names."""
        session.peer = (proxy.src_addr, proxy.src_port)  # type: ignore[assignment]  # aiosmtpd types peer as str; it holds the socket's (host, port)
        if isinstance(server, ListenerSession):
            return server.rekey(str(proxy.src_addr))
        return True

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        client = server.client if isinstance(server, ListenerSession) else None
        trusted = client is not None and self.trusted(client)
        if client and not trusted and self.guesses.blocked(client):
            return GUESSING  # ListenerSession.push closes the connection after it
        if len(envelope.rcpt_tos) >= self.cfg.max_recipients:
            return TOO_MANY_RECIPIENTS
        try:
            account = await self.routes.route(address)
        except Exception as exc:  # the database is down or frozen: the sender should retry
            log.warning("routing failed", extra={"fields": {"error": first_line(exc)}})
            return TRY_LATER
        if account is None:
            # The front relays everyone's RCPTs (and its own verification probes): its refusals
            # are logged and counted, but only a client that is not the front is shut out.
            if client and self.guesses.refused(client, address, self.cfg.ingest_domain, may_block=not trusted):
                return GUESSING  # ListenerSession.push closes the connection after it
            return NO_SUCH_USER
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)  # type: ignore[arg-type]  # aiosmtpd types it list[str]; it holds one list per RCPT
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        started = time.monotonic()
        self.in_flight += 1
        try:
            return await self._data(session, envelope, started)
        finally:
            self.in_flight -= 1

    async def _data(self, session: Session, envelope: Envelope, started: float) -> str:
        raw = envelope.original_content or b""
        peer = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
        # looked up again: an account disabled since RCPT stops routing
        routed = [(rcpt, account) for rcpt in envelope.rcpt_tos if (account := self.routes.cached(rcpt))]
        if not routed:
            return NO_SUCH_USER
        delivery = Delivery(raw, envelope.mail_from, peer, tuple((rcpt, account["id"]) for rcpt, account in routed))
        try:
            outcomes = await self.worker.deliver(delivery)
        except Exception as exc:
            metrics.DEFERRED.inc()
            self._log(routed, None, started, peer=peer, size=len(raw), error=exc)
            return TRY_LATER
        metrics.HANDOFF_SECONDS.observe(time.monotonic() - started)
        metrics.count(outcomes)
        self._log(routed, outcomes, started, peer=peer, size=len(raw))
        return _reply(outcomes)

    async def warm(self) -> None:
        """Start the worker: it is running, and connected, before we listen."""
        await self.worker.start()
        self.flusher = asyncio.create_task(self._flush_refusals(), name="refusal-counts")

    async def _flush_refusals(self, every: float = 5.0) -> None:
        """Every few seconds, add the refusal counts to the database (through the worker, the
        one process that writes), so that ``optout stats`` shows them."""
        while True:
            await asyncio.sleep(every)
            await self._write_refusals()

    async def _write_refusals(self) -> None:
        rows = self.guesses.take()
        if rows:
            try:
                await self.worker.record_refusals(rows)
            except Exception:  # the database is away: keep the counts for the next flush
                self.guesses.put_back(rows)

    async def close(self) -> None:
        self.flusher.cancel()
        await self._write_refusals()
        await self.worker.stop()

    def _log(self, routed: list[tuple[str, dict[str, Any]]], outcomes: tuple[Outcome, ...] | None,
             started: float, *, peer: str, size: int, error: Exception | None = None) -> None:
        took = round((time.monotonic() - started) * 1000, 1)
        for index, (_, account) in enumerate(routed):
            done = outcomes[index] if outcomes else None
            log.info("message", extra={"fields": {
                "account": accounts.masked(account, self.cfg.ingest_domain),
                "outcome": done.outcome if done else "deferred",
                "kind": done.kind if done else None, "order_id": done.order_id if done else None,
                "dkim": done.dkim if done else None, "peer": peer, "ms": took, "size": size,
                **({"error": first_line(error)} if error else {}),
            }})


def _reply(outcomes: tuple[Outcome, ...]) -> str:
    """The 250 for a committed message: what became of it, and how many of its notices listed
    something new (a mail can carry many)."""
    reply = OK.format(count=len(outcomes), outcome=", ".join(sorted({o.outcome for o in outcomes})))
    notices = max((o.notices for o in outcomes), default=0)
    return reply + NOTICES.format(notices=notices, listed=sum(o.listed for o in outcomes)) if notices else reply


class Guesses:
    """Refused recipients per client: past ``max_unknown_recipients`` within ``guess_window``
    seconds the client is shut out (421) for ``guess_block`` seconds. Each refusal is logged
    with the client and the slug tried, never the token (that would teach the guesser)."""

    def __init__(self, cfg: Settings) -> None:
        self.limit, self.window, self.block = cfg.max_unknown_recipients, cfg.guess_window, cfg.guess_block
        self.recent: dict[str, deque[float]] = {}
        self.until: dict[str, float] = {}
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (day, client, refused|blocked)

    def blocked(self, client: str) -> bool:
        ends = self.until.get(client)
        if ends is None:
            return False
        if time.monotonic() < ends:
            return True
        del self.until[client]
        return False

    def refused(self, client: str, address: str, domain: str, *, may_block: bool) -> bool:
        """Count one refusal; True if it shuts the client out."""
        now = time.monotonic()
        day = today()
        self.counts[(day, client, "refused")] += 1
        log.warning("unknown recipient", extra={"fields": {"client": client, "slug": accounts.slug_of(address, domain)}})
        if not may_block:
            return False
        recent = self.recent.setdefault(client, deque())
        recent.append(now)
        while recent and recent[0] < now - self.window:
            recent.popleft()
        if len(recent) <= self.limit:
            return False
        self.until[client] = now + self.block
        del self.recent[client]
        self.counts[(day, client, "blocked")] += 1
        log.warning("client shut out for guessing recipients", extra={"fields": {
            "client": client, "refused": len(recent), "seconds": self.block}})
        return True

    def take(self) -> list[tuple[str, str, int, int]]:
        """(day, client, refused, blocked) since the last take."""
        rows: dict[tuple[str, str], list[int]] = {}
        for (day, client, what), count in self.counts.items():
            rows.setdefault((day, client), [0, 0])[what == "blocked"] += count
        self.counts.clear()
        return [(day, client, refused, blocked) for (day, client), (refused, blocked) in sorted(rows.items())]

    def put_back(self, rows: list[tuple[str, str, int, int]]) -> None:
        for day, client, refused, blocked in rows:
            self.counts[(day, client, "refused")] += refused
            self.counts[(day, client, "blocked")] += blocked


class ListenerSession(SMTP):
    """aiosmtpd's SMTP with our line-length limit, a cap on connections per client, an idle
    timer that means seconds of silence, and a bound on one whole mail transaction."""

    def __init__(self, handler: Handler, *, line_length: int, gate_on_connect: bool, **kwargs: Any) -> None:
        self.line_length_limit = line_length  # before __init__, which sizes its reader by it
        super().__init__(handler, **kwargs)
        self.optout = handler
        self.gate_on_connect = gate_on_connect
        self.client: str | None = None
        self.heard = self.loop.time()  # when the last byte came
        self.mail_at: float | None = None  # when this transaction's MAIL FROM came
        self.held = bytearray()  # replies not yet written (see push)

    def data_received(self, data: bytes) -> None:
        self.heard = self.loop.time()  # a float store: cheaper than re-arming a timer per read
        super().data_received(data)

    async def push(self, status: Any) -> None:
        """Every reply aiosmtpd sends passes here, to be counted by code (once per reply, not per
        line of a multi-line one) and written, or held back: a 250 waits while the client's next
        command is already in, so that pipelined commands are answered in one write, as RFC 2920
        asks (each write is a system call, and they were a quarter of the listener's time). Any
        other reply goes out with what is held before it. A 421 promises the close: the
        connection closes once it is written, and nothing after it is answered."""
        if self.transport is None or self.transport.is_closing():
            return
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        if text[3:4] != "-":
            metrics.reply(text[:3])
        self.held += (status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(status, str)
                      else status) + b"\r\n"
        if text.startswith("250") and getattr(self._reader, "_buffer", None):  # StreamReader's unread input
            return
        held, self.held = bytes(self.held), bytearray()
        self._writer.write(held)
        if text.startswith("421"):
            self.transport.close()  # after what is written has gone
            return
        await self._writer.drain()

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str) -> None:
        self.mail_at = self.loop.time()
        await super().smtp_MAIL(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, with the message read by ``body.read`` rather than line by line."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            message = await body.read(self._reader, size_limit=self.data_size_limit, line_limit=self.line_length_limit)
        except asyncio.IncompleteReadError:  # the sender went away mid-message
            self._writer.close()
            return
        if message.too_big or message.line_too_long:
            self._set_post_data_state()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it unannotated
            await self.push("552 Error: Too much mail data" if message.too_big
                            else "500 Line too long (see RFC5321 4.5.3.1.6)")
            return
        self.envelope.content = self.envelope.original_content = message.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    def _timeout_cb(self) -> None:
        """aiosmtpd arms this timer per command; it fires ``idle_timeout`` after the last one.
        Only close if the client has really been silent that long (a slow DATA is not idle),
        or if its mail transaction has run past ``max_transaction_time``."""
        now = self.loop.time()
        idle_left = self._timeout_duration - (now - self.heard)
        busy_left = math.inf
        if self.mail_at is not None and self.envelope is not None and self.envelope.mail_from is not None:
            busy_left = self.mail_at + self.optout.cfg.max_transaction_time - now
        if idle_left > 0 and busy_left > 0:
            self._timeout_handle = self.loop.call_later(min(idle_left, busy_left), self._timeout_cb)
            return
        if busy_left <= 0 and isinstance(self.transport, asyncio.WriteTransport):
            self.transport.write(TRANSACTION_TOO_LONG)
        super()._timeout_cb()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it unannotated

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The address in MAIL FROM / RCPT TO, as aiosmtpd 1.4 parses it, at a fraction of the cost.

        Upstream builds a typing.Protocol class on every call (for a type hint) and runs the
        full RFC 5322 header parser; together they were a fifth of the listener's time. A plain
        ``<local@domain>`` is taken by a regex; anything else goes to the same parser upstream
        uses. A test checks both paths give upstream's results.
        """
        simple = _PLAIN_PATH.match(arg)
        if simple and not simple["rest"].lstrip(" \t").startswith("("):
            addr, rest = simple["addr"], simple["rest"].lstrip(" \t")
        elif not arg:
            return "", ""
        else:
            try:
                parsed, rest = (get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec)(arg)
            except HeaderParseError:
                return None, None
            addr = parsed.addr_spec
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        if self.gate_on_connect and not self._admits(client):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            return
        self._count_against(client)
        super().connection_made(transport)

    def rekey(self, client: str) -> bool:
        """Count this connection against ``client`` instead; False (refuse) if it is over its limit."""
        if not self._admits(client):
            return False  # aiosmtpd then closes the connection
        self._count_against(client)
        return True

    def _admits(self, client: str) -> bool:
        """May ``client`` open one more session? The trusted front always may, and its sessions
        have no command caps; anyone else is under the connection cap and not shut out."""
        trusted = self.optout.trusted(client)
        self._enforce_call_limit = not trusted  # aiosmtpd reads it before the greeting
        return trusted or (self.optout.per_client[client] < self.optout.cfg.max_connections_per_client
                           and not self.optout.guesses.blocked(client))

    def _count_against(self, client: str | None) -> None:
        """Move this connection's count to ``client`` (None: to no one)."""
        counts = self.optout.per_client
        if self.client is not None:
            counts[self.client] -= 1
            if counts[self.client] <= 0:
                del counts[self.client]
        self.client = client
        if client is not None:
            counts[client] += 1

    def connection_lost(self, error: Exception | None) -> None:
        if self.client is not None:
            self._count_against(None)
            super().connection_lost(error)
