"""What the drills and benchmarks share: a notice to send, a free port, waiting for a listener."""

from __future__ import annotations

import socket
import time
from email.message import EmailMessage

NOTICE = ("Dear Seller,\n\nWe were unable to deliver the message you sent for order {order} because the "
          "buyer has chosen to opt out of receiving unsolicited messages from sellers.\n\n")
FILLER = "To send a message that is required to complete the order, use Additional Information Required.\n"


def notice(order: str, *, filler_lines: int = 0) -> bytes:
    """A direct notice for ``order`` with CRLF line ends, dot-stuffed for SMTP DATA."""
    msg = EmailMessage()
    msg["From"] = "Amazon Seller Central <seller-notification@amazon.com>"
    msg["To"] = "seller@example.com"
    msg["Subject"] = "Your message to a buyer could not be delivered"
    msg["Message-ID"] = f"<{order}@load.example>"
    msg.set_content(NOTICE.format(order=order) + FILLER * filler_lines)
    return msg.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\n.", b"\r\n..")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> bool:
    """True once something accepts connections on ``port``; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
