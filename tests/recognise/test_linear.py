"""Recognition takes time linear in its input: each known pathological shape, at about 1 MB,
is recognised in a fresh process well within a generous deadline (2 s; linear code takes a
small fraction of it, the quadratic code it replaced took minutes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mail

NOTICE_HTML = "<p>" + mail.body("en").replace("\n", "<br>") + "</p>"
MB = 1 << 20


def _html(markup: str) -> bytes:
    return (b"From: Amazon <seller-notification@amazon.com>\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n"
            + markup.encode())


def _plain(body: str, *, sender: str = "Amazon <seller-notification@amazon.com>", subject: str = "x") -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\n{body}".encode()


SHAPES = {
    "unclosed script tags": _html(NOTICE_HTML + "<script\r\n" * (MB // 9)),
    "unclosed block tags": _html(NOTICE_HTML + "<p\n" * (MB // 3)),
    "unclosed comments": _html(NOTICE_HTML + "<!--" * (MB // 4)),
    "a lone run of '<'": _html(NOTICE_HTML + "<" * MB),
    "closed scripts, many": _html(NOTICE_HTML + "<script>a</script>" * (MB // 18)),
    "Gmail look-alike, blank lines": _plain("\r\n" * (MB // 2), sender="forwarding-noreply@google.com",
                                            subject="Gmail Forwarding Confirmation (#123456789)"),
    "Gmail look-alike, one long word": _plain("x" * MB, sender="forwarding-noreply@google.com",
                                              subject="Gmail Forwarding Confirmation (#123456789)"),
    "confirmation code, many": _plain("confirmation code  \t " * (MB // 20), sender="forwarding-noreply@google.com",
                                      subject="Gmail Forwarding Confirmation (#123456789)"),
    "forward block, long From value": _plain("FYI\r\n\r\nFrom: " + "a" * MB + "\r\nTo: b@example.com\r\n\r\n"
                                             + mail.body("en"), sender="seller@shop.example"),
    "addresses without an @": _plain(mail.body("en") + ("a." * (MB // 2)), sender="seller@shop.example"),
    "label lines, thousands": _plain(("From: x\r\nTo: y\r\n\r\n" * (MB // 20)) + mail.body("en"),
                                     sender="seller@shop.example"),
    "quote markers": _plain(("> " * 200 + "\r\n") * (MB // 400) + mail.body("en"), sender="seller@shop.example"),
}

_RUN = """
import sys
from optout.recognise import parse
result = parse(sys.stdin.buffer.read())
print(result.kind)
"""


@pytest.mark.parametrize("shape", list(SHAPES))
def test_pathological_shape_is_recognised_in_linear_time(shape: str) -> None:
    """About 1 MB of the shape is recognised in a subprocess within 2 s (start-up included)."""
    raw = SHAPES[shape]
    assert len(raw) > 0.9 * MB
    done = subprocess.run([sys.executable, "-c", _RUN], input=raw, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr[-2000:]
    kind = done.stdout.decode().strip()
    assert kind in ("optout_notice", "other", "forwarding_confirmation")
    timed = subprocess.run([sys.executable, "-c", _RUN], input=raw, capture_output=True, timeout=2)  # the bound
    assert timed.stdout.decode().strip() == kind


def test_unknown_and_undefined_charsets_still_recognise() -> None:
    """charset="undefined" (a codec Python has, which refuses everything) and an unknown name:
    the part is decoded as UTF-8 (else Latin-1) and the notice is recognised."""
    from optout.recognise import parse

    for charset in (b"undefined", b"x-no-such-charset", b"unknown-8bit"):
        raw = mail.as_bytes(mail.notice("fr", cte="quoted-printable")).replace(b'charset="utf-8"', b'charset="' + charset + b'"')
        result = parse(raw)
        assert (result.kind, result.order_id) == ("optout_notice", "112-4455667-7788990"), charset
