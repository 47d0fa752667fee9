"""A real listener for tests: in a thread of this process, or as an `optout serve` subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen import free_port, wait_port

__all__ = ["InProcess", "free_port", "subprocess_server"]


@dataclass
class InProcess:
    """`optout.listener.server.serve` on its own event loop in a thread; ``stop()`` ends it cleanly."""

    port: int
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop_event: asyncio.Event | None = None
    error: BaseException | None = None

    @classmethod
    def start(cls, **overrides: Any) -> InProcess:
        from optout.config import load_settings

        port = free_port()
        cfg = load_settings(smtp_port=port, **overrides)
        started = threading.Event()
        server = cls(port=port)

        async def main() -> None:
            from optout.listener.server import serve

            server.loop = asyncio.get_running_loop()
            server.stop_event = asyncio.Event()
            ready = asyncio.Event()
            task = asyncio.create_task(serve(cfg, ready=ready, stop=server.stop_event))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await task

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # surfaced by stop()
                server.error = exc
                started.set()

        server.thread = threading.Thread(target=run, daemon=True)
        server.thread.start()
        started.wait(15)
        if server.error:
            raise server.error
        return server

    def stop(self) -> None:
        """Stop cleanly (the fixture may stop it again after a test did: that does nothing)."""
        if self.thread is not None and not self.thread.is_alive():
            return
        if self.loop and self.stop_event:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.thread:
            self.thread.join(40)
        if self.error:
            raise self.error


def subprocess_server(port: int, *args: str, env: dict[str, str] | None = None,
                      log: Path | None = None) -> subprocess.Popen:
    """`python -m optout serve` on ``port``, its stderr captured (a pipe, read by the test; or,
    for long runs whose log would fill a pipe, the file ``log``)."""
    sink = log.open("ab") if log else subprocess.PIPE
    if "--http-port" not in args:
        args = ("--no-http", *args)  # the SMTP side alone, unless the test asks for HTTP on its own port
    proc = subprocess.Popen(
        [sys.executable, "-m", "optout", "serve", "--port", str(port), *args],
        env=env or os.environ.copy(), stderr=sink, stdout=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, as under systemd or a terminal
    )
    if log:
        sink.close()  # type: ignore[union-attr]  # the child has its own copy
    if not wait_port(port, timeout=15):
        proc.kill()
        proc.wait()
        raise AssertionError(log.read_text()[-3000:] if log else proc.communicate()[1].decode()[-3000:])
    return proc
