"""The list over HTTP against a real `optout serve`, on SQLite and PostgreSQL: /v1/filter keeps
only what a mailer may send to; /v1/changes pages through every listing, removal and expiry;
writes follow the CLI's rules and leave the same history; an account sees only itself."""

from __future__ import annotations

import smtplib

import httpx
from sqlalchemy import create_engine, text

import mail
import samples
from waiting import until
from web import LISTED, mint, problem

UNLISTED = ("someone@example.org", "205-1111111-2222222")


def test_filter_plain_lines_keeps_only_what_may_be_sent(cli, web) -> None:
    """One query a line in, the lines not listed out, in order; a line that is neither an
    address nor an order ID is dropped (it could not be checked), or kept with invalid=keep."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    sent = [UNLISTED[0], LISTED[1].upper(), "not an address", UNLISTED[1], LISTED[0]]
    answer = client.post("/v1/filter", content="\r\n".join(sent), headers={**auth, "Content-Type": "text/plain"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.text.splitlines() == [UNLISTED[0], UNLISTED[1]]
    kept = client.post("/v1/filter", params={"invalid": "keep"}, content="\n".join(sent),
                       headers={**auth, "Content-Type": "text/plain"})
    assert kept.text.splitlines() == [UNLISTED[0], "not an address", UNLISTED[1]]
    many = [f"{i:06d}@example.com" for i in range(9000)]
    big = client.post("/v1/filter", content="\n".join([*many[:4000], LISTED[1], *many[4000:]]),
                      headers={**auth, "Content-Type": "text/plain"})
    assert big.text.splitlines() == many


def test_filter_csv_passes_rows_through_untouched(cli, web) -> None:
    """CSV with ?column=: the header and the unlisted rows come back exactly as sent (quoted
    commas, a line break inside quotes, Excel's byte-order mark dropped); listed rows are gone."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    rows = ['name,email,note', '"Doe, Jane",someone@example.org,first',
            f'Listed Buyer,{LISTED[1]},"two\nlines"', '"Quote ""Q""",other@example.org,', 'No Address,,x']
    answer = client.post("/v1/filter", params={"column": "email"}, content=b"\xef\xbb\xbf" + "\r\n".join(rows).encode(),
                         headers=auth)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.text == "\r\n".join([rows[0], rows[1], rows[3]]) + "\r\n"
    problem(client.post("/v1/filter", content="\n".join(rows), headers=auth), 422)
    missing = problem(client.post("/v1/filter", params={"column": "mail"}, content="\n".join(rows), headers=auth), 422)
    assert "email" in missing["detail"]  # the columns it does have


def test_filter_checks_a_row_by_order_id_and_address_together(cli, web) -> None:
    """?column= repeated: a row goes if its address or its order ID is listed (most entries are
    order IDs); empty cells are passed over; a malformed cell makes the row uncheckable."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    rows = ["email,order", f"fresh@example.org,{LISTED[0]}", f"{LISTED[1]},113-0000000-0000001",
            "fresh@example.org,113-0000000-0000002", "fresh2@example.org,", ",113-0000000-0000003",
            "not an address,113-0000000-0000004"]
    answer = client.post("/v1/filter", params=[("column", "email"), ("column", "order")],
                         content="\n".join(rows).encode(), headers=auth)
    assert answer.text == "\n".join([rows[0], rows[3], rows[4], rows[5]]) + "\n", answer.text
    assert (answer.headers["Optout-Suppressed"], answer.headers["Optout-Invalid"]) == ("2", "1")
    one = client.post("/v1/filter", params={"column": "email"}, content="\n".join(rows).encode(), headers=auth)
    assert rows[1] in one.text  # by the address alone, the listed order goes out: why both are checked
    problem(client.post("/v1/filter", params=[("column", "email"), ("column", "nope")],
                        content="\n".join(rows).encode(), headers=auth), 422)


def test_a_filtered_list_that_breaks_off_is_a_400_not_a_partial_answer(cli, web, serve) -> None:
    """A CSV whose last record never closes its quote, after 3,000 good rows: the list is
    filtered whole before the answer starts, so the caller gets a 400 saying why, never a part of
    the list that could pass for all of it."""
    client, key = web
    rows = ["name,email", *[f"n{i},b{i}@example.org" for i in range(3000)], 'broken,"x@example.org']
    answer = client.post("/v1/filter", params={"column": "email"}, content="\n".join(rows),
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"})
    assert "ends inside a quoted field" in problem(answer, 400)["detail"]


def test_filter_says_what_it_dropped_keeps_line_endings_and_takes_json(cli, web) -> None:
    """Headers count the kept, suppressed and unchecked rows; CRLF in, CRLF out (LF in, LF out);
    a JSON array in, the JSON array of what may be sent out; an unchecked row is dropped, as
    `optout filter` drops it (one rule), or kept with invalid=keep by both."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    sent = [UNLISTED[0], LISTED[1], "not an address", UNLISTED[1]]
    crlf = client.post("/v1/filter", content="\r\n".join(sent) + "\r\n", headers={**auth, "Content-Type": "text/plain"})
    assert crlf.content == f"{UNLISTED[0]}\r\n{UNLISTED[1]}\r\n".encode()
    assert (crlf.headers["optout-kept"], crlf.headers["optout-suppressed"], crlf.headers["optout-invalid"],
            crlf.headers["optout-invalid-rows"]) == ("2", "1", "1", "drop")
    lf = client.post("/v1/filter", content="\n".join(sent), headers={**auth, "Content-Type": "text/plain"})
    assert lf.content == f"{UNLISTED[0]}\n{UNLISTED[1]}\n".encode()
    as_json = client.post("/v1/filter", json=sent, headers=auth)
    assert as_json.status_code == 200 and as_json.json() == [UNLISTED[0], UNLISTED[1]]
    kept = client.post("/v1/filter", json=sent, params={"invalid": "keep"}, headers=auth)
    assert kept.json() == [UNLISTED[0], "not an address", UNLISTED[1]]
    plain = cli("filter", input="\n".join(sent) + "\n")
    assert plain.stdout.splitlines() == [UNLISTED[0], UNLISTED[1]] and "(dropped) 1" in plain.stderr
    assert cli("filter", "--invalid", "keep", input="\n".join(sent) + "\n").stdout.splitlines() == kept.json()


def test_changes_pages_through_listings_and_removals(cli, web) -> None:
    """Pages of `limit` in (time, id) order, each with the cursor to go on from; the last says
    no more; a later poll from its cursor brings only what changed since, removals included."""
    client, key = web
    auth = {"Authorization": f"Bearer {key}"}
    for value in UNLISTED:
        assert cli("add", value, "--reason", "seed").exit_code == 0
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get("/v1/changes", params={"limit": 3, **({"since": cursor} if cursor else {})}, headers=auth)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["changes"]
        cursor, pages = body["next"], pages + 1
        if not body["more"]:
            break
    assert pages == 2 and sorted(c["value"] for c in seen) == sorted([*LISTED, *UNLISTED])
    assert all(c["status"] == "listed" for c in seen)
    quiet = client.get("/v1/changes", params={"since": cursor}, headers=auth).json()
    assert quiet == {"changes": [], "next": cursor, "more": False}
    assert cli("remove", LISTED[1], "--reason", "asked by the buyer").exit_code == 0
    after = client.get("/v1/changes", params={"since": cursor}, headers=auth).json()
    assert [(c["value"], c["status"], c["removed_reason"]) for c in after["changes"]] == [
        (LISTED[1], "removed", "asked by the buyer")]
    timed = client.get("/v1/changes", params={"since": "2000-01-01T00:00:00Z"}, headers=auth).json()
    assert len(timed["changes"]) == 4
    problem(client.get("/v1/changes", params={"since": "yesterday"}, headers=auth), 400)
    problem(client.get("/v1/changes", params={"limit": 0}, headers=auth), 422)


def test_writes_follow_the_cli_rules_and_history(cli, web, serve, database_url) -> None:
    """A seller's write key lists for its own account (201, then 200 when listed already) and
    may remove only what rests on its own reports alone; an admin key removes anything; each
    write leaves an event with the reason and the key, as the CLI's do."""
    client, read_key = web
    write = {"Authorization": f"Bearer {mint(cli, 'write', 'acme')}"}
    admin = {"Authorization": f"Bearer {mint(cli, 'admin')}"}
    made = client.post("/v1/entries", json={"query": UNLISTED[0], "reason": "buyer asked on the phone"}, headers=write)
    assert made.status_code == 201 and made.json() == {"query": UNLISTED[0], "listed": True, "new": True}
    again = client.post("/v1/entries", json={"query": UNLISTED[0], "reason": "again"}, headers=write)
    assert again.status_code == 200 and again.json()["new"] is False
    assert cli.checks(UNLISTED[0])[0]["accounts"] == ["acme"]
    refused = problem(client.delete(f"/v1/entries/{LISTED[1]}", params={"reason": "x"}, headers=write), 403)
    assert "admin" in refused["detail"]  # an operator listed it, not this seller
    assert client.delete(f"/v1/entries/{UNLISTED[0]}", params={"reason": "wrong buyer"}, headers=write).json() == {
        "query": UNLISTED[0], "listed": False}
    assert client.delete(f"/v1/entries/{LISTED[1]}", params={"reason": "court order"}, headers=admin).status_code == 200
    assert not cli.checks(LISTED[1])[0]["listed"]
    problem(client.delete(f"/v1/entries/{LISTED[1]}", params={"reason": "again"}, headers=admin), 404)
    engine = create_engine(database_url)
    with engine.connect() as conn:
        events = conn.execute(text("SELECT e.value, v.action, v.actor, v.reason FROM event v JOIN entry e "
                                   "ON e.id = v.entry_id ORDER BY v.id")).all()
    engine.dispose()
    assert [tuple(e[:2]) + (e[3],) for e in events] == [
        (LISTED[0], "added", "seed"), (LISTED[1], "added", "seed"), (UNLISTED[0], "added", "buyer asked on the phone"),
        (UNLISTED[0], "added", "again"), (UNLISTED[0], "removed", "wrong buyer"), (LISTED[1], "removed", "court order")]
    assert events[2][2].startswith("acme (API key") and events[5][2].startswith("admin (API key")


def test_bad_writes_are_problems(cli, web) -> None:
    """A read key cannot write (403); no reason (422); a malformed query (400); invalid JSON
    (422); another account's name on a seller's key (403); an unknown account (404)."""
    client, read_key = web
    write = {"Authorization": f"Bearer {mint(cli, 'write', 'acme')}"}
    admin = {"Authorization": f"Bearer {mint(cli, 'admin')}"}
    problem(client.post("/v1/entries", json={"query": UNLISTED[0], "reason": "x"},
                        headers={"Authorization": f"Bearer {read_key}"}), 403)
    problem(client.post("/v1/entries", json={"query": UNLISTED[0]}, headers=write), 422)
    problem(client.post("/v1/entries", json={"query": "nobody", "reason": "x"}, headers=write), 400)
    problem(client.post("/v1/entries", content=b"{not json", headers={**write, "Content-Type": "application/json"}), 422)
    problem(client.post("/v1/entries", json={"query": UNLISTED[0], "reason": "x", "account": "other"}, headers=write), 403)
    problem(client.post("/v1/entries", json={"query": UNLISTED[0], "reason": "x", "account": "nope"}, headers=admin), 404)
    problem(client.delete(f"/v1/entries/{UNLISTED[0]}", headers=write), 422)
    problem(client.delete("/v1/entries/nobody", params={"reason": "x"}, headers=write), 400)
    assert not cli.checks(UNLISTED[0])[0]["listed"]


def test_account_view_shows_forwarding_state(cli, web, serve, account) -> None:
    """A Gmail confirmation waits until a notice arrives after it; the last notice and the
    counts by outcome follow the mail sent to the account's address over SMTP."""
    client, read_key = web
    auth = {"Authorization": f"Bearer {read_key}"}
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as smtp:
        smtp.sendmail("forwarding-noreply@google.com", [account["address"]],
                      samples.gmail_confirmation(code="551177009", to=account["address"]))
    view = client.get("/v1/accounts/acme", headers=auth).json()
    assert view["address"] == account["address"] and view["last_notice"] is None
    assert [c["code"] for c in view["confirmations_pending"]] == ["551177009"]
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as smtp:
        smtp.sendmail("seller-notification@amazon.com", [account["address"]],
                      mail.as_bytes(mail.notice(order="205-7777777-1234567", to=account["address"])))
    view = client.get("/v1/accounts/acme", headers=auth).json()
    assert view["confirmations_pending"] == []  # a notice came after it: the forward works
    assert view["last_notice"]["order_id"] == "205-7777777-1234567" and view["last_notice"]["outcome"] == "listed"
    assert view["messages_by_outcome"] == {"confirmation": 1, "listed": 1}


def test_an_account_sees_only_itself(cli, web) -> None:
    """A seller's key gets 403 for another account (whether it exists or not); an admin key
    reads any account, and 404 for one that does not exist."""
    client, read_key = web
    assert cli("accounts", "add", "other").exit_code == 0
    problem(client.get("/v1/accounts/other", headers={"Authorization": f"Bearer {read_key}"}), 403)
    problem(client.get("/v1/accounts/ghost", headers={"Authorization": f"Bearer {read_key}"}), 403)
    admin = {"Authorization": f"Bearer {mint(cli, 'admin')}"}
    assert client.get("/v1/accounts/other", headers=admin).json()["slug"] == "other"
    problem(client.get("/v1/accounts/ghost", headers=admin), 404)


def test_listener_metrics(cli, web, serve, account) -> None:
    """/metrics counts the listener's messages by outcome, form and language, its replies by
    code, its commit times, and the quarantine by outcome."""
    client, _ = web
    with smtplib.SMTP("127.0.0.1", serve.smtp_port, timeout=30) as smtp:
        smtp.sendmail("donotreply@amazon.fr", [account["address"]],
                      mail.as_bytes(mail.notice("fr", order="402-1234567-7654321", to=account["address"])))
        smtp.sendmail("someone@example.org", [account["address"]], samples.buyer_message())
        try:
            smtp.sendmail("x@example.org", ["nobody-zzzz@" + account["address"].split("@")[1]], b"Subject: x\r\n\r\nx\r\n")
        except smtplib.SMTPRecipientsRefused:
            pass
    scrape = client.get("/metrics").text
    assert 'optout_messages_total{form="direct",language="fr",outcome="listed"} 1.0' in scrape
    assert 'optout_messages_total{form="none",language="none",outcome="quarantined"} 1.0' in scrape
    assert 'optout_smtp_replies_total{code="550"} 1.0' in scrape
    assert 'optout_quarantine_messages{outcome="quarantined"} 1.0' in scrape
    assert "optout_commit_seconds_count 2.0" in scrape
    until(lambda: 'optout_smtp_replies_total{code="221"}' in httpx.get(serve.base + "/metrics").text,
          what="the QUIT reply to be counted")
