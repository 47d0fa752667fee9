"""`lookup.json_line` writes each bulk answer by hand for speed: it must be, byte for byte, the
`json.dumps` of `lookup.record`, which is what `optout check --json` and GET /v1/check print."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from optout.consult import lookup
from optout.identifiers import parse_query

TIMES = st.one_of(st.none(), st.sampled_from(["2026-01-01 00:00:00.000000", "2026-11-22 23:59:59.999999"]))
TEXT = st.one_of(st.none(), st.text(max_size=30))


@given(kind=st.sampled_from(["order", "email"]), status=st.sampled_from(["listed", "removed"]),
       buyer=TEXT, orders=st.one_of(st.none(), st.just("112-1234567-1234567 113-7654321-1234567")),
       market=TEXT, first=TIMES, last=st.sampled_from(["2026-01-02 00:00:00.000000", "2026-11-02 10:00:00.000000"]),
       count=st.integers(0, 10**6), verified=st.sampled_from([0, 1, True, False]), removed_at=TIMES, why=TEXT,
       accounts=st.lists(st.text(max_size=12), max_size=3),
       cutoff=st.one_of(st.none(), st.just("2026-06-01 00:00:00")))
def test_json_line_is_the_records_json(kind, status, buyer, orders, market, first, last, count, verified,  # noqa: ANN001
                                       removed_at, why, accounts, cutoff) -> None:
    query = parse_query("112-1234567-1234567" if kind == "order" else "buyer@example.com")
    row = (kind, query.value, buyer, orders, market, status, first, last, count, verified, removed_at, why)
    for found in (row, None):
        expected = json.dumps(lookup.record(query, found, accounts, cutoff=cutoff), ensure_ascii=False)
        assert lookup.json_line(query, found, accounts, cutoff=cutoff) == expected
