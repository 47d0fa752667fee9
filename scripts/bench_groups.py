#!/usr/bin/env python3
"""Grouping possible notices by wording stays linear in the number waiting.

    python scripts/bench_groups.py [--sizes 1000,5000,10000] [--groups 40] [--database-url URL]

For each size, a fresh database gets that many possible notices in an unknown language (invented
wordings, ``--groups`` of them, each message with its own order ID, greeting name and account),
stored through the listener's own path (recognised, grouped at arrival). Then it times what the
operator asks for: `optout quarantine groups` (the GROUP BY, and each group's wording derived
from its newest message) and the overview's groups. Reports seconds and microseconds per waiting
message for each size: linear means the per-message figure stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from email.message import EmailMessage


def message(group: int, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Amazon <auto-communication@amazon.es>"
    msg["To"] = "seller@example.com"
    msg["Subject"] = f"Aviso {group}"
    msg["Message-ID"] = f"<g{group}-{n}@amazon.example>"
    word = "".join(chr(97 + int(d)) for d in str(group))  # numbers are masked: each wording its own word
    msg.set_content(f"Hola vendedor {n}:\n\nFrase inventada {word} sobre el pedido "
                    f"{400 + group % 500:03d}-{n:07d}-1234567 que no pudo entregarse por motivos de prueba.\n")
    return bytes(msg)


def fill(size: int, groups: int) -> None:
    from optout.config import load_settings
    from optout.recognise import parse
    from optout.record import accounts, ingest
    from optout.store import db

    eng = db.engine(load_settings())
    with eng.begin() as conn:
        ids = [accounts.create(conn, slug=f"acct{i}", name=None)["id"] for i in range(10)]
    items = []
    for n in range(size):
        raw = message(n % groups, n)
        items.append(ingest.Item(ingest.Inbound(raw=raw, account_id=ids[n % 10]), parse(raw)))
    with eng.begin() as conn:
        for start in range(0, size, 1000):
            ingest.apply_many(conn, items=items[start:start + 1000], policy=ingest.Policy())
    eng.dispose()


def measure(size: int, groups: int) -> dict[str, float]:
    from optout.config import load_settings
    from optout.record import wordings
    from optout.store import db

    fill(size, groups)
    eng = db.read_only(load_settings())
    with eng.connect() as conn:
        started = time.perf_counter()
        found = wordings.groups(conn)
        derived = [wordings.derive(conn, target=str(g.sample_id)) for g in found]
        took = time.perf_counter() - started
        started = time.perf_counter()
        shown = wordings.shown_groups(conn, limit=groups)
        overview = time.perf_counter() - started
    assert len(found) == groups and len(derived) == groups and len(shown) == groups, (len(found), len(shown))
    assert sum(g.messages for g in found) == size
    eng.dispose()
    return {"waiting": size, "groups_s": round(took, 4), "us_per_message": round(took / size * 1e6, 2),
            "overview_s": round(overview, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as work:
            os.environ["OPTOUT_DATA_DIR"] = work
            if args.database_url:
                os.environ["OPTOUT_DATABASE_URL"] = args.database_url
                _reset(args.database_url)
            results.append(measure(size, args.groups))
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                      "database": "postgresql" if args.database_url else "sqlite"}))


def _reset(url: str) -> None:
    """An empty schema on the PostgreSQL server at ``url`` (the benchmark's own database)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


if __name__ == "__main__":
    main()
