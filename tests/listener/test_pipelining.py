"""Pipelined commands (RFC 2920) answered together: a 250 is held while the client's next
command is already in, and any other reply goes out with what was held, in order."""

from __future__ import annotations

import socket

import pytest

import mail


def _session(port: int) -> socket.socket:
    """A connection past its greeting and EHLO."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    assert _replies(conn, 1)[0].startswith(b"220")
    conn.sendall(b"EHLO client.example\r\n")
    assert _replies(conn, 1)[0].startswith(b"250 ")
    return conn


def _replies(conn: socket.socket, count: int) -> list[bytes]:
    """The next ``count`` replies (continuation lines folded into their reply), as they come."""
    data, done = b"", []
    while len(done) < count:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        *lines, data = data.split(b"\r\n")
        done += [line for line in lines if line[3:4] != b"-"]
    return done


def test_pipelined_envelope_answered_in_one_write(cli, account, listener) -> None:
    """MAIL, two RCPTs and DATA sent at once: the four replies come in the first read (one write:
    the listener held the 250s until DATA's 354), and the message that follows is kept."""
    conn = _session(listener.port)
    with conn:
        rcpt = f"RCPT TO:<{account['address']}>\r\n".encode()
        conn.sendall(b"MAIL FROM:<seller-notification@amazon.com>\r\n" + rcpt + rcpt + b"DATA\r\n")
        first = conn.recv(65536)
        assert [line[:3] for line in first.split(b"\r\n") if line] == [b"250", b"250", b"250", b"354"]
        conn.sendall(mail.as_bytes(mail.notice("en", "322-0000000-0000001")) + b"\r\n.\r\nQUIT\r\n")
        end = _replies(conn, 2)
        assert end[0].startswith(b"250 2.0.0") and end[1].startswith(b"221")
        assert conn.recv(100) == b""  # closed after the 221, with nothing held back and lost
    assert cli.checks("322-0000000-0000001")[0]["listed"]


def test_held_replies_go_out_in_order_before_the_session_ends(account, listener) -> None:
    """MAIL, a refused RCPT, a good one, RSET and QUIT at once: every reply, in order, before the close."""
    conn = _session(listener.port)
    with conn:
        conn.sendall(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@ingest.example.net>\r\n"
                     + f"RCPT TO:<{account['address']}>\r\n".encode() + b"RSET\r\nQUIT\r\n")
        assert [r[:3] for r in _replies(conn, 5)] == [b"250", b"550", b"250", b"250", b"221"]
        assert conn.recv(100) == b""


@pytest.mark.listener(max_unknown_recipients=2, guess_block=600)
def test_a_421_goes_out_after_the_replies_held_before_it(account, listener) -> None:
    """A client shut out in the middle of a pipelined batch gets the replies to what came before,
    then the 421, then the close."""
    conn = _session(listener.port)
    with conn:
        conn.sendall(b"MAIL FROM:<a@example.com>\r\n" + b"".join(
            f"RCPT TO:<guess{i}@ingest.example.net>\r\n".encode() for i in range(3)) + b"NOOP\r\n")
        assert [r[:3] for r in _replies(conn, 4)] == [b"250", b"550", b"550", b"421"]
        assert conn.recv(100) == b""


def test_a_client_that_waits_for_each_reply_gets_each_at_once(account, listener) -> None:
    """Without pipelining nothing is held: each command's reply comes before the next is sent."""
    conn = _session(listener.port)
    with conn:
        for command, code in ((b"MAIL FROM:<a@example.com>", b"250"),
                              (f"RCPT TO:<{account['address']}>".encode(), b"250"), (b"NOOP", b"250"),
                              (b"RSET", b"250")):
            conn.sendall(command + b"\r\n")
            assert _replies(conn, 1)[0][:3] == code
