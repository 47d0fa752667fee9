#!/usr/bin/env python3
"""Recognition speed on a mix of notices and real bounces, beside the stdlib parser floors.

    python scripts/bench_parse.py [--rounds 5]

The mix: every corpus notice and sample (each in several forms: direct, auto-forward, inline,
attachment) plus all 503 bounces, parsed in one process on one core. Printed beside it, on the
same messages in the same run: the stdlib parser alone with policy.compat32, and with
policy.default plus get_body() (the figures the issue names as the floor and the slow path).
"""

from __future__ import annotations

import argparse
import email
import json
import os
import platform
import sys
import time
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT / "tests"))


def load_mix() -> list[bytes]:
    import mail

    notices = [p.read_bytes() for p in sorted((CORPUS / "notices").glob("*.eml"))]
    made = []
    for lang in ("en", "fr", "de"):
        for i in range(20):
            order = f"{100 + i:03d}-{i:07d}-{i:07d}"
            direct = mail.as_bytes(mail.notice(lang, order))
            made += [direct, mail.auto_forward(direct), mail.wrap_attached(direct),
                     mail.wrap_inline(mail.body(lang, order), header_block=(
                         "---------- Forwarded message ---------\nFrom: Amazon <seller-notification@amazon.com>\n"
                         "Date: x\nSubject: y\nTo: <a@b.example>"))]
    bounces = [p.read_bytes() for p in sorted((CORPUS / "bounces").glob("*.eml"))]
    return notices * 10 + made + bounces


def recall(parse) -> tuple[str, int, int]:  # noqa: ANN001
    """A table of recall by client (rows) and interface language (columns) over the generated
    hand forwards (tests/layouts.py), and the false positives among their buyer twins and the
    corpus bounces: (table, false positives, negatives checked)."""
    import layouts

    found: dict[tuple[str, str], list[int]] = {}
    false, negatives = 0, 0
    for client, lang, _charset, raw, is_notice in layouts.cases():
        result = parse(raw)
        if is_notice:
            cell = found.setdefault((client, lang), [0, 0])
            cell[0] += result.kind == "optout_notice" and result.order_id == layouts.ORDER
            cell[1] += 1
        else:
            negatives += 1
            false += result.kind == "optout_notice"
    for path in sorted((CORPUS / "bounces").glob("*.eml")):
        negatives += 1
        false += parse(path.read_bytes()).kind == "optout_notice"
    langs = list(layouts.LANGUAGES)
    lines = ["client".ljust(22) + " ".join(code.rjust(5) for code in langs)]
    for client in layouts.CLIENTS:
        cells = []
        for code in langs:
            hit, total = found.get((client, code), (0, 0))
            cells.append(("  -  " if not total else f"{hit}/{total}").rjust(5))
        lines.append(client.ljust(22) + " ".join(cells))
    return "\n".join(lines), false, negatives


def rate(function, mix: list[bytes], rounds: int) -> float:  # noqa: ANN001
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mix:
            function(raw)
        best = max(best, len(mix) / (time.perf_counter() - started))
    return best


def batch_cost(parse, rounds: int) -> float:  # noqa: ANN001
    """What one mail carrying 20 attached notices costs, counted in single notices parsed alone
    (the issue's target: about 20)."""
    from email.message import EmailMessage

    import mail

    singles = [mail.as_bytes(mail.notice("en", f"{100 + i:03d}-{i:07d}-{i:07d}")) for i in range(20)]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail.SELLER, mail.INGEST, "twenty notices"
    msg.set_content("attached")
    for i in range(20):
        msg.add_attachment(mail.notice("en", f"{100 + i:03d}-{i:07d}-{i:07d}"))
    batch = mail.as_bytes(msg)
    assert len(parse(batch).notices()) == 20
    one = 1 / rate(parse, singles, rounds)  # seconds a single notice
    return (1 / rate(parse, [batch] * 5, rounds)) / one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from optout.recognise import parse

    mix = load_mix()
    kinds: dict[str, int] = {}
    for raw in mix:
        kind = parse(raw).kind
        kinds[kind] = kinds.get(kind, 0) + 1

    def modern(raw: bytes) -> None:
        email.message_from_bytes(raw, policy=policy.default).get_body()

    table, false, negatives = recall(parse)
    print(table)
    print(json.dumps({
        "messages": len(mix), "kinds": kinds,
        "false_positives": false, "negatives_checked": negatives,
        "optout_parse_msgs_per_s": round(rate(parse, mix, args.rounds)),
        "floor_compat32_msgs_per_s": round(rate(lambda r: email.message_from_bytes(r, policy=policy.compat32), mix, args.rounds)),
        "stdlib_default_get_body_msgs_per_s": round(rate(modern, mix, max(1, args.rounds // 2))),
        "batch_of_20_costs_notices": round(batch_cost(parse, args.rounds), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
