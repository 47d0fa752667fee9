"""Recognition never raises: malformed, huge, deep or random input all come back as a Result."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mail
from optout.identifiers import ORDER_ID
from optout.recognise import parse
from samples import SAMPLES as _BY_NAME

ORDER = "112-4455667-7788990"
SAMPLES = list(_BY_NAME.values())


def test_malformed_headers() -> None:
    """Broken addresses, unterminated encoded words and header garbage give `other`."""
    raw = (b"From: <<<@@@>>> =?utf-8?q?broken\r\nTo: ,,,,@\r\nSubject: =?x-unknown?b?!!!?=\r\n"
           b"Content-Type: text/plain; charset=\"no-such-charset\"\r\n\r\n\xff\xfe body " + ORDER.encode())
    assert parse(raw).kind == "other"


def test_broken_mime_boundary() -> None:
    """A multipart message whose boundary never closes is still read."""
    raw = (b"From: seller-notification@amazon.com\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\n" + mail.body("en", ORDER).encode() + b"\r\n--XY\r\n")
    result = parse(raw)
    assert result.kind == "optout_notice" and result.order_id == ORDER


def test_undecodable_bytes_in_a_notice() -> None:
    """Invalid UTF-8 inside a notice's text does not stop recognition."""
    raw = mail.as_bytes(mail.notice("en", ORDER, cte="8bit")).replace(b"Dear Seller", b"Dear \xff\xfe Seller")
    assert parse(raw).order_id == ORDER


def test_thirty_deep_nest_of_attachments() -> None:
    """A notice under 30 levels of attached messages is still found."""
    raw = mail.as_bytes(mail.notice("en", ORDER))
    for _ in range(30):
        raw = mail.wrap_attached(raw)
    result = parse(raw)
    assert (result.kind, result.order_id, result.how) == ("optout_notice", ORDER, "attachment")


def test_twenty_megabyte_body() -> None:
    """A 20 MB body is examined within bounds and gives a verdict."""
    raw = b"From: a@example.com\r\nSubject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 20_000
    assert parse(raw).kind == "other"
    big_notice = mail.as_bytes(mail.notice("en", ORDER, cte="8bit")) + b"y" * 20_000_000
    assert parse(big_notice).order_id == ORDER


def test_hundred_thousand_character_header() -> None:
    """A header of 100,000 characters (one word, or many encoded words) is cut, not choked on."""
    long_word = b"Subject: " + b"a" * 100_000 + b"\r\n"
    encoded = b"Subject: " + b"=?utf-8?q?ab?= " * 7000 + b"\r\n"
    for header in (long_word, encoded):
        raw = header + mail.as_bytes(mail.notice("en", ORDER))
        assert parse(raw).kind == "optout_notice"


def test_empty_and_binary_input() -> None:
    """Empty input and random binary are `other`."""
    assert parse(b"").kind == "other"
    assert parse(bytes(range(256)) * 100).kind == "other"


_mutation = st.tuples(st.integers(min_value=0), st.sampled_from(["flip", "insert", "delete", "truncate"]),
                      st.binary(min_size=1, max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_notices_never_raise(sample: bytes, mutations: list) -> None:
    """Random byte-level damage to real notices never raises, and any notice found is well formed."""
    raw = bytearray(sample)
    for position, how, data in mutations:
        at = position % (len(raw) or 1)
        if how == "flip" and raw:
            raw[at] ^= data[0]
        elif how == "insert":
            raw[at:at] = data
        elif how == "delete":
            del raw[at : at + len(data)]
        else:
            del raw[at:]
    result = parse(bytes(raw))
    assert result.kind in ("optout_notice", "forwarding_confirmation", "other")
    assert result.reason
    if result.kind == "optout_notice":
        assert result.order_id and ORDER_ID.fullmatch(result.order_id)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([s for s in SAMPLES if b"amazon" in s.split(b"\n\n", 1)[0].lower()]),
       st.from_regex(r"[a-z]{1,10}\.(com|net|example)", fullmatch=True))
def test_notices_from_another_domain_are_never_listed(sample: bytes, domain: str) -> None:
    """Whatever the notice says, moving its sender off Amazon's domains makes it `other`."""
    head, _, rest = sample.partition(b"\n\n")
    lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"x-forwarded")]
    head = b"\n".join(
        b"From: someone@" + domain.encode() if line.lower().startswith(b"from:") else line for line in lines)
    if b"Forwarded message" in rest:  # the inline sample names Amazon inside; move that too
        rest = rest.replace(b"amazon.com", domain.encode())
    assert parse(head + b"\n\n" + rest).kind != "optout_notice"
