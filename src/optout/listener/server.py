"""Running the listener: ``optout serve`` until SIGTERM or SIGINT, then a clean stop.

On a signal the listening socket closes at once, messages in flight finish (and get their
reply), open sessions are closed, the worker exits, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
import sys
import weakref
from typing import TYPE_CHECKING, Any

from optout import heap
from optout.errors import OptoutError

if TYPE_CHECKING:
    from optout.config import Settings

log = logging.getLogger("optout.listener.smtp")
DRAIN_SECONDS = 30
SHUTTING_DOWN = b"421 4.3.2 Service shutting down, try again later\r\n"


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S")
        if fields:
            return f"{stamp} {record.getMessage()} " + " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{stamp} {record.levelname.lower()} {record.getMessage()}"


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "event": record.getMessage(), **getattr(record, "fields", {})}
        return json.dumps(data, default=str)


def setup_logging(fmt: str) -> None:
    # A line per message is on the hot path; skip the record fields no line of ours shows
    # (the logging HOWTO's "Optimization" section lists these switches).
    logging._srcfile = None  # no caller lookup (a frame walk)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    for name in ("optout", "mail.log"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger("optout").setLevel(logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's own chatter


def _any_account(reads: Any) -> bool:
    """Is there any account yet? (The first start says what to do next when there is none.)"""
    from optout.record import accounts

    with reads.connect() as conn:
        return bool(accounts.routing_table(conn))


def tls_context(cfg: Settings) -> ssl.SSLContext | None:
    if not cfg.tls_cert:
        if cfg.require_starttls:
            raise OptoutError("require_starttls is set but tls_cert is not")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise OptoutError(f"cannot load TLS certificate {cfg.tls_cert}: {exc}") from None
    return context


async def serve(cfg: Settings, *, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None, state: dict[str, Any] | None = None) -> None:
    """Listen until SIGTERM/SIGINT (or until ``stop`` is set, for embedding), then stop cleanly.
    ``state`` (if given) receives the worker handle, for the HTTP side's /readyz."""
    from optout.listener.smtp import Handler, ListenerSession
    from optout.record import trust
    from optout.store import db

    trust.load_pinned(cfg.dkim_keys_file)  # a bad keys file stops start-up, not the first notice
    context = tls_context(cfg)  # likewise a bad certificate
    db.engine(cfg).dispose()  # create or check the schema before the worker starts
    reads = db.read_only(cfg, check_schema=False)
    handler = Handler(cfg, reads=reads)
    if state is not None:
        state["worker"] = handler.worker
    sessions: weakref.WeakSet[ListenerSession] = weakref.WeakSet()  # open ones only

    def factory() -> ListenerSession:
        session = ListenerSession(
            handler, line_length=cfg.max_line_length, gate_on_connect=not cfg.proxy_protocol,
            data_size_limit=cfg.max_message_size, hostname=cfg.smtp_hostname or cfg.ingest_domain,
            ident="optout", tls_context=context, require_starttls=cfg.require_starttls,
            timeout=cfg.idle_timeout, command_call_limit=cfg.max_commands,
            proxy_protocol_timeout=10 if cfg.proxy_protocol else None, enable_SMTPUTF8=True,
        )
        sessions.add(session)
        return session

    loop = asyncio.get_running_loop()
    await handler.warm()
    heap.settle()
    try:
        server = await loop.create_server(factory, host=cfg.smtp_host, port=cfg.smtp_port)
    except OSError as exc:
        await handler.close()
        reads.dispose()
        raise OptoutError(f"cannot listen on {cfg.smtp_host}:{cfg.smtp_port}: {exc.strerror}") from None
    signals = stop is None
    stop = stop or asyncio.Event()
    if signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    address = server.sockets[0].getsockname()
    log.info("listening", extra={"fields": {"address": f"{address[0]}:{address[1]}",
                                            "database": db.redact(cfg.url), "trust": cfg.trust}})
    if not handler.routes.by_slug and not await asyncio.to_thread(_any_account, reads):
        log.info("next step", extra={"fields": {"do": "optout accounts add SLUG (in another shell) prints an ingest "
                                                      "address; mail a notice to it (README, Quick start)"}})
    if ready:
        ready.set()
    try:
        await stop.wait()
    finally:
        await _shutdown(server, handler, sessions)
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        await handler.close()
        reads.dispose()


async def _shutdown(server: Any, handler: Any, sessions: Any) -> None:
    """Stop listening, let every open mail transaction finish, then close what is left."""
    server.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while (handler.in_flight or any(map(_mid_transaction, list(sessions)))) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for session in list(sessions):
        if session.transport is not None and not session.transport.is_closing():
            session.transport.write(SHUTTING_DOWN)
            session.transport.close()
    log.info("stopped", extra={"fields": {"in_flight": handler.in_flight}})


def _mid_transaction(session: Any) -> bool:
    """Between MAIL FROM and the reply to DATA, on a connection still open."""
    envelope = getattr(session, "envelope", None)
    transport = getattr(session, "transport", None)
    return bool(envelope and envelope.mail_from and transport and not transport.is_closing())
