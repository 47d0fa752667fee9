"""The byte screen before the MIME parse: its fast order-ID test finds exactly what the plain
regex finds, overlapping candidates and all."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from optout.recognise import _has_order_id

PLAIN = re.compile(rb"\d{3}-\d{7}-\d{7}")


@given(st.lists(st.sampled_from([b"0", b"1", b"7", b"9", b"-", b"x", b"\xd9", b" "]), max_size=60).map(b"".join))
def test_same_as_the_plain_regex(raw: bytes) -> None:
    assert _has_order_id(raw) == (PLAIN.search(raw) is not None)


def test_overlapping_candidates() -> None:
    assert _has_order_id(b"x-1234567-1234567-1234567")  # "567-1234567-1234567" inside
    assert not _has_order_id(b"12-1234567-1234567")
    assert _has_order_id(b"order 112-4455667-7788990.")
