"""The internals of aiosmtpd, asyncio and the email package the listener relies on, named one
by one: a release that renames or drops one fails here by name, not somewhere in a session.
(pyproject.toml bounds aiosmtpd below its next minor release for the same reason.)"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from aiosmtpd.smtp import SMTP

# (owner, attribute, what the listener does with it)
USED = [
    (SMTP, "_getaddr", "overridden: MAIL/RCPT address parsing at a fraction of upstream's cost"),
    (SMTP, "_timeout_cb", "overridden and called: idle and transaction-time limits"),
    (SMTP, "_set_post_data_state", "called after DATA, as upstream's smtp_DATA does"),
    (SMTP, "_call_handler_hook", "called: the handler's DATA hook from the re-implemented smtp_DATA"),
    (SMTP, "_enforce_call_limit", "set per connection: trusted relays are exempt from the command cap"),
    (SMTP, "check_helo_needed", "called from smtp_DATA"),
    (SMTP, "check_auth_needed", "called from smtp_DATA"),
    (asyncio.StreamReader, "_buffer", "read: pipelined input waiting after a 250"),
]


@pytest.mark.parametrize(("owner", "name", "why"), USED, ids=[f"{o.__name__}.{n}" for o, n, _ in USED])
def test_each_internal_the_listener_uses_is_there(owner, name, why) -> None:
    """The attribute exists on the installed version (as a method, or set in __init__)."""
    if hasattr(owner, name):
        return
    init = inspect.getsource(owner.__init__)
    assert f"self.{name}" in init, f"{owner.__module__}.{owner.__name__}.{name} is gone; the listener uses it: {why}"


def test_the_private_address_parsers_are_there() -> None:
    """email._header_value_parser's get_addr_spec and get_angle_addr, which _getaddr falls back on."""
    from email import _header_value_parser as parser

    assert callable(parser.get_addr_spec) and callable(parser.get_angle_addr)


def test_smtp_keeps_its_reader_writer_and_timeout_attributes() -> None:
    """_reader, _writer, _timeout_handle and _timeout_duration are set by aiosmtpd's SMTP."""
    source = inspect.getsource(SMTP)
    for name in ("_reader", "_writer", "_timeout_handle", "_timeout_duration"):
        assert f"self.{name}" in source, f"aiosmtpd.smtp.SMTP no longer sets {name}; the listener uses it"
