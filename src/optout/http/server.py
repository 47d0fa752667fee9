"""Running the HTTP side inside ``optout serve``: uvicorn on the listener's event loop.

``optout serve`` owns SIGTERM and SIGINT for both sides (uvicorn's own signal capture is turned
off), and binds the port itself so that a port in use is a one-line error, not uvicorn's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn

from optout import heap
from optout.config import Settings
from optout.errors import OptoutError
from optout.http import heads

log = logging.getLogger("optout.http")


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # optout serve handles the signals
        yield


def bind(cfg: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in cfg.http_host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that
    # say they are TCP, and with it on, small answers waited on delayed ACKs: half the requests/s
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg.http_host, cfg.http_port))
    except OSError as exc:
        sock.close()
        raise OptoutError(f"cannot listen on {cfg.http_host}:{cfg.http_port} (HTTP): {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(cfg: Settings, sock: socket.socket, *, stop: asyncio.Event,
                worker_alive: Callable[[], bool] | None = None) -> None:
    """Serve HTTP on ``sock`` until ``stop`` is set; requests under way finish first."""
    from optout.http.app import create_app

    app = create_app(cfg, worker_alive=worker_alive)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=10,
                            http=heads.bounded(cfg), server_header=False)
    server = _Embedded(config)
    heap.settle()
    running = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    address = sock.getsockname()
    log.info("http listening", extra={"fields": {"address": f"{address[0]}:{address[1]}"}})
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    waiting.cancel()
    await running
    await app.state.store.aclose()
