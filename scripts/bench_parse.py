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


def rate(function, mix: list[bytes], rounds: int) -> float:  # noqa: ANN001
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mix:
            function(raw)
        best = max(best, len(mix) / (time.perf_counter() - started))
    return best


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

    print(json.dumps({
        "messages": len(mix), "kinds": kinds,
        "optout_parse_msgs_per_s": round(rate(parse, mix, args.rounds)),
        "floor_compat32_msgs_per_s": round(rate(lambda r: email.message_from_bytes(r, policy=policy.compat32), mix, args.rounds)),
        "stdlib_default_get_body_msgs_per_s": round(rate(modern, mix, max(1, args.rounds // 2))),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }))


if __name__ == "__main__":
    main()
