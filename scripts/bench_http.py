#!/usr/bin/env python3
"""The HTTP side's speed targets (issue 11), each beside its floor in the same run.

    python scripts/bench_http.py [--entries 1000000] [--database-url URL] [--work DIR]

On an N-entry list (built with `optout import` unless --work already holds one):
- GET /v1/check?q=… under `wrk` (Debian's wrk, 32 connections): requests/s and p99 latency,
  against a bare FastAPI endpoint that returns a constant JSON object, on the same uvicorn
  settings, run alternately (target: ≥ 0.5× the floor; p99 ≤ 20 ms);
- POST /v1/check and POST /v1/filter of 200,000 queries, streamed up and down (≥ 50,000/s);
- `optout check --json -` and `optout check -` of 500,000 queries, alternated over --cli-rounds
  (≥ 100,000/s for --json; median and best of the rounds);
- the HTTP server's peak resident memory over all of it (< 200 MB);
- the listener's rate with GET lookups hammering the HTTP side of the same process, against
  its rate alone (the HTTP side must not cost the listener its speed).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import bench_smtp
from bench_list import alias, order
from loadgen import free_port, wait_port

BULK = 200_000
CLI_QUERIES = 500_000


def bare_server(port: int) -> None:
    """The floor: FastAPI on uvicorn with optout serve's settings, one constant JSON answer."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/check")
    async def constant() -> dict:
        return {"results": [{"query": "buyer@example.com", "kind": "email", "listed": False, "status": None}]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                timeout_graceful_shutdown=10)


def sample(entries: int, count: int, seed: int) -> list[str]:
    """Queries of which about half are listed."""
    rng = random.Random(seed)
    return [alias(i) if i % 2 else order(i) for i in (rng.randrange(entries * 2) for _ in range(count))]


def wrk(url: str, *, key: str, queries: list[str], seconds: int, connections: int, folder: Path) -> dict:
    """requests/s and latency percentiles (ms) of `wrk` GETting url?q=… with rotating queries."""
    script = folder / "rotate.lua"
    script.write_text(
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        "local qs = {" + ",".join(f'"{q}"' for q in queries[:2000]) + "}\n"
        "local i = 0\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(\"GET\", \"/v1/check?q=\" .. qs[i % #qs + 1])\nend\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format(\"errors %d %d %d %d\\n\", summary.errors.connect, summary.errors.read, "
        "summary.errors.status, summary.errors.timeout))\n"
        "  for _, p in pairs({50, 90, 99}) do io.write(string.format(\"p%d %f\\n\", p, latency:percentile(p) / 1000)) end\n"
        "end\n")
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                          capture_output=True, text=True, check=True)
    out = done.stdout
    errors = [int(n) for n in re.search(r"errors (\d+) (\d+) (\d+) (\d+)", out).groups()]  # type: ignore[union-attr]
    return {"rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])),  # type: ignore[index]
            **{f"p{p}_ms": round(float(re.search(rf"p{p} ([\d.]+)", out)[1]), 2) for p in (50, 90, 99)},  # type: ignore[index]
            "errors": sum(errors)}


def bulk(base: str, path: str, key: str, lines: list[str], **params: str) -> tuple[float, int]:
    """Queries/s of one streamed POST of ``lines``, and the lines that came back."""
    body = "\n".join(lines).encode()

    def chunks():  # noqa: ANN202
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    started = time.perf_counter()
    answered = 0
    with httpx.Client(timeout=300) as client, client.stream(
            "POST", base + path, params=params, content=chunks(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"}) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            answered += chunk.count(b"\n")
    return len(lines) / (time.perf_counter() - started), answered


def peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return -1


def cli_rate(env: dict[str, str], queries: Path, *args: str) -> float:
    started = time.perf_counter()
    with queries.open("rb") as feed:
        subprocess.run([sys.executable, "-m", "optout", "check", *args, "-"], env=env, stdin=feed,
                       stdout=subprocess.DEVNULL, check=False)
    return CLI_QUERIES / (time.perf_counter() - started)


def prepare(folder: Path, env: dict[str, str], entries: int) -> None:
    optout = [sys.executable, "-m", "optout"]
    subprocess.run([*optout, "db", "upgrade"], env=env, check=True, capture_output=True)
    stats = json.loads(subprocess.run([*optout, "stats", "--json"], env=env, capture_output=True, text=True,
                                      check=True).stdout)
    if stats["entries_listed"] < entries:
        source = folder / "list.txt"
        with source.open("w") as out:
            for i in range(entries):
                out.write((alias(i) if i % 2 else order(i)) + "\n")
        subprocess.run([*optout, "import", str(source), "--quiet"], env=env, check=True)


def run(args: argparse.Namespace) -> dict:
    folder = Path(args.work or tempfile.mkdtemp(prefix="optout-bench-http-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OPTOUT_DATA_DIR": str(folder / "data"), "OPTOUT_DAILY_NEW_ENTRIES_LIMIT": "1000000000"}
    if args.database_url:
        env["OPTOUT_DATABASE_URL"] = args.database_url
    prepare(folder, env, args.entries)
    optout = [sys.executable, "-m", "optout"]
    slug = f"bench{int(time.time())}"
    rcpt = json.loads(subprocess.run([*optout, "accounts", "add", slug, "--json"], env=env, check=True,
                                     capture_output=True, text=True).stdout)["address"]
    key = json.loads(subprocess.run([*optout, "keys", "add", "--scope", "admin", "--json"], env=env, check=True,
                                    capture_output=True, text=True).stdout)["key"]
    bare_port, http_port, smtp_port = free_port(), free_port(), free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)])
    if args.split:  # the SMTP side and the HTTP side as two processes, as deploy/compose runs them
        niced = ["nice", "-n", str(args.http_nice)] if args.http_nice else []
        serve = subprocess.Popen([*niced, *optout, "serve", "--no-smtp", "--http-port", str(http_port)], env=env,
                                 stderr=subprocess.DEVNULL)
        others = [subprocess.Popen([*optout, "serve", "--no-http", "--port", str(smtp_port)], env=env,
                                   stderr=subprocess.DEVNULL)]
    else:
        serve = subprocess.Popen([*optout, "serve", "--port", str(smtp_port), "--http-port", str(http_port)], env=env,
                                 stderr=subprocess.DEVNULL)
        others = []
    queries = sample(args.entries, BULK, seed=11)
    results: dict = {"database": "postgresql" if args.database_url else "sqlite", "entries": args.entries,
                     "connections": args.connections, "split": args.split, "http_nice": args.http_nice}
    try:
        for port in (bare_port, http_port, smtp_port):
            if not wait_port(port, timeout=60):
                raise SystemExit(f"nothing listening on {port}")
        base = f"http://127.0.0.1:{http_port}"
        if "get" in args.parts:
            results.update(get_rounds(bare_port, http_port, key, queries, folder, args))
        if "bulk" in args.parts:
            rate, answered = bulk(base, "/v1/check", key, queries)
            assert answered == len(queries), f"POST /v1/check answered {answered} of {len(queries)}"
            results["post_check_queries_per_s"] = round(rate)
            rate, kept = bulk(base, "/v1/filter", key, queries)
            results["post_filter_queries_per_s"], results["post_filter_kept"] = round(rate), kept
            results["http_server_peak_mb"] = peak_mb(serve.pid)
        if "listener" in args.parts:
            results.update(listener_under_load(smtp_port, rcpt, base, key, queries, folder, args))
        results["serve_peak_mb_after_all"] = peak_mb(serve.pid)
    finally:
        for proc in (bare, serve, *others):
            proc.terminate()
            proc.wait(60)
    if "cli" not in args.parts:
        return results
    cli_queries = folder / "cli-queries.txt"
    cli_queries.write_text("\n".join(sample(args.entries, CLI_QUERIES, seed=7)) + "\n")
    # alternated, several rounds: one run of a few seconds swings ±20 % on a shared VM
    json_rates, plain_rates = [], []
    for _ in range(args.cli_rounds):
        json_rates.append(cli_rate(env, cli_queries, "--json"))
        plain_rates.append(cli_rate(env, cli_queries))
    for name, rates in (("json", json_rates), ("plain", plain_rates)):
        results[f"cli_check_{name}_queries_per_s_median"] = round(statistics.median(rates))
        results[f"cli_check_{name}_queries_per_s_best"] = round(max(rates))
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if not args.work:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def get_rounds(bare_port: int, http_port: int, key: str, queries: list[str], folder: Path,
               args: argparse.Namespace) -> dict:
    """GET /v1/check against the floor under wrk, alternately, the best round of each."""
    rounds: dict[str, list[dict]] = {"floor": [], "get_check": []}
    for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both
        for name, port in (("floor", bare_port), ("get_check", http_port)):
            rounds[name].append(wrk(f"http://127.0.0.1:{port}/v1/check", key=key, queries=queries,
                                    seconds=args.seconds, connections=args.connections, folder=folder))
    best = {name: max(runs, key=lambda r: r["rps"]) for name, runs in rounds.items()}
    return {"get_check": best["get_check"], "floor_constant_json": best["floor"],
            "get_ratio": round(best["get_check"]["rps"] / best["floor"]["rps"], 2),
            "get_rounds_rps": {name: [r["rps"] for r in runs] for name, runs in rounds.items()}}


def listener_under_load(smtp_port: int, rcpt: str, base: str, key: str, queries: list[str], folder: Path,
                        args: argparse.Namespace) -> dict:
    """The listener's rate alone, then with wrk GETting lookups from the same process."""
    alone_s, replies = asyncio.run(bench_smtp.drive(smtp_port, rcpt, sessions=8, count=args.messages, prefix=501))
    assert replies.count(250) == args.messages
    loaded = subprocess.Popen(["wrk", "-t1", f"-c{args.lookup_connections}", f"-d{args.seconds * 3}s", "-H", f"Authorization: Bearer {key}",
                               f"{base}/v1/check?q={queries[0]}"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)  # let the lookups reach full speed before the mail starts
    loaded_s, replies = asyncio.run(bench_smtp.drive(smtp_port, rcpt, sessions=8, count=args.messages, prefix=502))
    assert replies.count(250) == args.messages
    loaded.send_signal(signal.SIGINT)  # wrk stops and prints what it did so far
    out = loaded.communicate()[0]
    found = re.search(r"Requests/sec:\s+([\d.]+)", out or "")
    return {"listener_alone_msgs_per_s": round(args.messages / alone_s),
            "listener_with_http_load_msgs_per_s": round(args.messages / loaded_s),
            "listener_ratio_under_http_load": round(alone_s / loaded_s, 2),
            "lookups_per_s_meanwhile": round(float(found[1])) if found else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--work", help="a folder to keep the list in between runs")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cli-rounds", type=int, default=5, help="alternating runs of each CLI check")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--lookup-connections", type=int, default=8,
                        help="wrk connections looking up while the listener's rate is measured")
    parser.add_argument("--split", action="store_true", help="SMTP and HTTP sides in two processes")
    parser.add_argument("--http-nice", type=int, default=0,
                        help="with --split: the HTTP process's nice value (deploy/systemd uses 10)")
    parser.add_argument("--parts", default="get,bulk,listener,cli", help="which measurements, comma-separated")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
