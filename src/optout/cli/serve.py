"""``optout serve``: the SMTP listener and the HTTP side, in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optout.cli.output import guarded, settings

if TYPE_CHECKING:
    from optout.config import Settings


@guarded
def serve(
    host: Annotated[str | None, typer.Option(help="SMTP address to listen on (setting smtp_host).")] = None,
    port: Annotated[int | None, typer.Option(help="SMTP port (setting smtp_port).")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="HTTP port (setting http_port).")] = None,
    no_http: Annotated[bool, typer.Option("--no-http", help="Run the SMTP listener alone.")] = False,
    no_smtp: Annotated[bool, typer.Option("--no-smtp", help="Run the HTTP side alone.")] = False,
    log_format: Annotated[str | None, typer.Option("--log-format", help="text or json.")] = None,
) -> None:
    """Receive notices over SMTP and answer lookups over HTTP, until SIGTERM or SIGINT."""
    from optout.config import load_settings
    from optout.errors import OptoutError
    from optout.listener.server import setup_logging

    if no_http and no_smtp:
        raise OptoutError("--no-http and --no-smtp together leave nothing to serve")
    overrides = {k: v for k, v in {"smtp_host": host, "smtp_port": port, "http_port": http_port,
                                   "log_format": log_format}.items() if v is not None}
    cfg = load_settings(**overrides) if overrides else settings()
    setup_logging(cfg.log_format)
    asyncio.run(_both(cfg, smtp=not no_smtp, http=not no_http))


async def _both(cfg: Settings, *, smtp: bool, http: bool) -> None:
    """Run the sides until a signal; if one fails to start, stop the other and raise."""
    from optout.listener import server as listener

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if loop.get_debug():  # PYTHONASYNCIODEBUG=1: report any step that holds the loop past 50 ms
        loop.slow_callback_duration = 0.05
        logging.getLogger("optout").warning("event loop in debug mode: slow steps reported past 50 ms")
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state: dict[str, Any] = {}
    tasks = []
    if http:
        from optout.http import server as web

        sock = web.bind(cfg)  # before anything starts: a port in use is one line and exit 2
        tasks.append(asyncio.create_task(web.serve(cfg, sock, stop=stop, worker_alive=_alive(state) if smtp else None)))
    if smtp:
        if not http and cfg.metrics_port:
            _metrics_alone(cfg, cfg.metrics_port)
        tasks.append(asyncio.create_task(listener.serve(cfg, stop=stop, state=state)))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t for t in done if t.exception()]
        if failed:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            error = failed[0].exception()
            assert error is not None
            raise error
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _alive(state: dict[str, Any]) -> Any:
    def alive() -> bool:
        worker = state.get("worker")
        return worker is not None and worker.process is not None and worker.process.is_alive()
    return alive


def _metrics_alone(cfg: Settings, port: int) -> None:
    """The SMTP side without the HTTP side (``--no-http``) still shows its metrics: /metrics
    alone on ``metrics_port``, from prometheus-client's own small server in a thread."""
    from prometheus_client import start_http_server

    from optout.errors import OptoutError

    try:
        start_http_server(port, addr=cfg.http_host)
    except OSError as exc:
        raise OptoutError(f"cannot listen on {cfg.http_host}:{port} (metrics): {exc.strerror}") from None
