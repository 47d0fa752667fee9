"""Waiting on events, never on the clock: a state the test can see (a row, a port, a process
state, bytes queued on a socket), looked at every few milliseconds until it holds."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(probe: Callable[[], T], *, what: str, timeout: float = 15.0) -> T:
    """``probe()``'s first truthy answer; AssertionError naming ``what`` if none by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


def refused(port: int) -> bool:
    """Nothing accepts connections on ``port`` any more (the listener closed its socket)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def greeting(port: int) -> int:
    """The code of the greeting a new connection gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return int(sock.recv(100)[:3])


def unread_bytes(pid: int) -> int:
    """Bytes waiting, unread, in the Unix-socket receive queues of process ``pid`` (from ss)."""
    shown = subprocess.run(["ss", "-x", "-p", "-H"], capture_output=True, text=True, timeout=10).stdout
    return sum(int(line.split()[2]) for line in shown.splitlines() if re.search(rf"pid={pid},", line))
