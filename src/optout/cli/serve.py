"""``optout serve``: the SMTP listener."""

from __future__ import annotations

from typing import Annotated

import typer

from optout.cli.output import guarded, settings


@guarded
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (setting smtp_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (setting smtp_port).")] = None,
    log_format: Annotated[str | None, typer.Option("--log-format", help="text or json.")] = None,
) -> None:
    """Receive notices over SMTP until SIGTERM or SIGINT."""
    import asyncio

    from optout.config import load_settings
    from optout.listener.server import serve as run
    from optout.listener.server import setup_logging

    overrides = {k: v for k, v in {"smtp_host": host, "smtp_port": port, "log_format": log_format}.items()
                 if v is not None}
    cfg = load_settings(**overrides) if overrides else settings()
    setup_logging(cfg.log_format)
    asyncio.run(run(cfg))
