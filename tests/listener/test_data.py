"""DATA read in pieces (listener/body.py): the message arrives byte for byte as the sender meant
it, whatever its lines and however the network cuts it, with aiosmtpd's answers at the limits."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import mail
from optout.listener import body


def _stuffed(lines: list[bytes]) -> bytes:
    """``lines`` as a client sends them after DATA: each line that starts with a dot gets another,
    then the lone dot."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


def _read(chunks: list[bytes], *, size_limit: int | None = None, line_limit: int = 1001,
          buffer_limit: int | None = None) -> tuple[body.Body, bytes]:
    """``body.read`` on a real StreamReader fed ``chunks`` as they would come off the network;
    what it read, and what it left for the next command. The reader buffers up to the line limit,
    as the listener's does, unless ``buffer_limit`` says otherwise."""

    async def run() -> tuple[body.Body, bytes]:
        reader = asyncio.StreamReader(limit=buffer_limit or line_limit)
        reading = asyncio.ensure_future(body.read(reader, size_limit=size_limit, line_limit=line_limit))
        for chunk in chunks:  # one at a time, the reader taking what it can of each before the next
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        reader.feed_eof()
        return await reading, await reader.read()

    return asyncio.run(run())


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
SPECIAL = st.sampled_from([b".", b"..", b".hidden", b"end of sentence.", b"", b" .", b"\x00.", b"a\nb."])


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINE | SPECIAL, max_size=30), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_any_message_in_any_cut_arrives_as_sent(lines: list[bytes], cuts: list[int]) -> None:
    """Lines that start with a dot, lines that end with one, empty lines, bare LFs, and every way
    the network may split them (the end mark included): the message back, unstuffed, and the
    command pipelined after it left for the next read."""
    wire = _stuffed(lines) + b"QUIT\r\n"
    got, left = _read(_cut(wire, cuts))
    assert not got.too_big and not got.line_too_long
    assert got.content == b"".join(line + b"\r\n" for line in lines)
    assert left == b"QUIT\r\n"


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINE | SPECIAL, max_size=30), cuts=st.lists(st.integers(min_value=0), max_size=8),
       buffer_limit=st.integers(min_value=3, max_value=12))
def test_a_reader_that_overruns_at_every_turn_loses_nothing(lines: list[bytes], cuts: list[int],
                                                            buffer_limit: int) -> None:
    """The same with a reader whose buffer limit is a few bytes, so that nearly every piece is
    taken as an overrun and the lone dot often arrives split from the line end before it."""
    wire = _stuffed(lines) + b"QUIT\r\n"
    got, left = _read(_cut(wire, cuts), buffer_limit=buffer_limit)
    assert got.content == b"".join(line + b"\r\n" for line in lines)
    assert left == b"QUIT\r\n"


def test_an_empty_message_ends_at_the_first_dot() -> None:
    got, left = _read([b".\r\nQUIT\r\n"])
    assert got.content == b"" and left == b"QUIT\r\n"


def test_a_message_far_past_the_reader_limit_with_no_dot_in_it() -> None:
    """A large attachment (base64 has no dots) runs past the reader's buffer limit many times over;
    it is read in pieces, all of it kept."""
    attachment = base64.encodebytes(bytes(range(256)) * 2000).replace(b"\n", b"\r\n")
    got, left = _read(_cut(_stuffed([b"Subject: big", b""]) [:-3] + attachment + b".\r\n", [7, 5000, 300_000]),
                      line_limit=1001)
    assert got.content == b"Subject: big\r\n\r\n" + attachment and left == b""


def test_size_limit_at_the_byte() -> None:
    """The size counts what came before the end mark, dots as sent: at the limit is fine, a byte
    more is too big, and nothing of a too-big message is kept."""
    lines = [b"x" * 98]  # 100 bytes with its CRLF
    assert _read([_stuffed(lines)], size_limit=100)[0].content == b"x" * 98 + b"\r\n"
    too_big, left = _read([_stuffed([b"x" * 99]) + b"QUIT\r\n"], size_limit=100)
    assert too_big.too_big and too_big.content == b"" and left == b"QUIT\r\n"


def test_line_limit_at_the_byte() -> None:
    """A line may be as long as the limit with its CRLF, as aiosmtpd counts it; one more byte is
    refused, wherever the line falls and however long (past the reader's own limit too)."""
    assert not _read([_stuffed([b"a", b"y" * 999, b"b"])], line_limit=1001)[0].line_too_long
    assert _read([_stuffed([b"a", b"y" * 1000, b"b"])], line_limit=1001)[0].line_too_long
    assert _read([_stuffed([b"y" * 50_000])], line_limit=1001)[0].line_too_long


def test_the_listener_keeps_the_message_byte_for_byte(cli, account, listener, engine) -> None:
    """Through the real listener: a notice with dot lines, a sentence ending a line and a 200 KB
    attachment is stored exactly as smtplib was given it."""
    notice = mail.as_bytes(mail.notice("en", "321-0000000-0000001"))
    attachment = base64.encodebytes(bytes(range(256)) * 800).replace(b"\n", b"\r\n")
    raw = notice.replace(b"Dear Seller,", b".Dear Seller,\r\n..\r\n.\r\nA sentence.") + b"\r\n" + attachment
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
        assert client.sendmail("a@example.com", account["address"], raw) == {}
    with engine.connect() as conn:
        (stored,) = conn.execute(text("SELECT raw FROM message")).one()
    assert bytes(stored) == raw


def test_quit_pipelined_after_the_end_mark(cli, account, listener) -> None:
    """A client that sends QUIT in the same packet as the lone dot gets the 250 and then the 221."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as conn, conn.makefile("rb") as replies:
        assert replies.readline().startswith(b"220")
        conn.sendall(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\n" + f"RCPT TO:<{account['address']}>\r\n".encode()
                     + b"DATA\r\n")
        codes = []
        while len(codes) < 4:  # EHLO (several lines), MAIL, RCPT, DATA
            line = replies.readline()
            if line[3:4] != b"-":
                codes.append(line[:3])
        assert codes == [b"250", b"250", b"250", b"354"]
        conn.sendall(mail.as_bytes(mail.notice("en", "321-0000000-0000002")) + b"\r\n.\r\nQUIT\r\n")
        assert replies.readline().startswith(b"250 2.0.0")
        assert replies.readline().startswith(b"221")
    assert cli.checks("321-0000000-0000002")[0]["listed"]


def test_a_sender_gone_mid_message_leaves_nothing_behind(cli, account, listener) -> None:
    """The connection closes halfway through DATA: nothing is stored, and the next sender is
    served as usual."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as conn, conn.makefile("rb") as replies:
        assert replies.readline().startswith(b"220")
        for command in (b"HELO x", b"MAIL FROM:<a@example.com>", f"RCPT TO:<{account['address']}>".encode(), b"DATA"):
            conn.sendall(command + b"\r\n")
            assert replies.readline()[:1] in (b"2", b"3")
        conn.sendall(mail.as_bytes(mail.notice("en", "321-0000000-0000003"))[:500])
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
        assert client.sendmail("a@example.com", account["address"], mail.as_bytes(mail.notice("en", "321-0000000-0000004"))) == {}
        help_text = client.help()
    assert b"MAIL" in help_text and b"DATA" in help_text  # HELP still names the commands this session overrides
    assert [c["listed"] for c in cli.checks("321-0000000-0000003", "321-0000000-0000004")] == [False, True]
