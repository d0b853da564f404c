"""Capacity: the highest rate of calls the gateway sustains with a 1-second upstream while the
99th percentile stays under 1.05 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h9_bench REDIS_URL=redis://127.0.0.1:6379/10 \\
      .venv/bin/python -m bench.rate_bench [--rates 100,200,300,400] [--seconds 15] [--workers 2]

Starts the fake upstream answering every call after 1 s (--latency-ms 1000, not streamed),
gunicorn with the repository's gunicorn.conf.py and the usage flusher
(bench/gateway_bench.gateway()), on an unlimited plan. Then an open-loop driver (asyncio, raw
sockets; Debian has no wrk2) sends calls at a fixed rate, one connection each, for --seconds per
rate, stepping the rate up until p99 reaches the bound or calls fail. A call's latency runs from
the moment it was due, not from when it was sent, so a client falling behind (or a server
that accepts late) counts against the gateway as it would for real callers (no coordinated
omission); the driver's own lateness is reported too. --direct drives the fake upstream itself
with the same driver: the baseline the gateway's figures compare with. All traffic to 127.0.0.1; everything
started is stopped (process groups), also on Ctrl-C or TERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.gateway_bench import gateway, stop_on_term

BOUND_S = 1.05


async def one_call(host: str, port: int, request: bytes, due: float) -> tuple[float, int, float]:
    """(seconds from due to the whole answer read, status (0: the connection failed), due)."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), 30)  # the server closes: no keep-alive
        finally:
            writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except (TimeoutError, OSError, ValueError, IndexError):
        status = 0
    return time.monotonic() - due, status, due


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def at_rate(url: str, request: bytes, rate: int, seconds: float) -> dict:
    target = urlsplit(url)
    tasks: list[asyncio.Task] = []
    lateness = 0.0
    start = time.monotonic() + 0.1
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness = max(lateness, time.monotonic() - due)
        tasks.append(asyncio.create_task(one_call(target.hostname, target.port, request, due)))
    results = await asyncio.gather(*tasks)
    latencies = [seconds for seconds, status, _ in results if status == 200]
    failed = sum(status != 200 for _, status, _ in results)
    # When the calls over the bound were due (s into the run): a cluster is a stall.
    slow = sorted(round(due - start, 1) for seconds, _, due in results if seconds >= BOUND_S)
    return {
        "rate": rate,
        "calls": len(results),
        "failed": failed,
        "statuses": sorted({status for _, status, _ in results if status != 200}),
        "completed_per_s": round(len(latencies) / seconds, 1),
        "p50_s": round(percentile(latencies, 0.50), 3) if latencies else None,
        "p90_s": round(percentile(latencies, 0.90), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "driver_late_max_ms": round(lateness * 1000, 1),
        "over_bound_due_at_s": slow[:40],
        "load": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,150,200,250,300,350,400,450,500,600")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--latency-ms", type=int, default=1000)
    parser.add_argument("--logs", help="keep the servers' logs in this directory")
    parser.add_argument(
        "--direct", action="store_true", help="drive the fake upstream itself (the baseline)"
    )
    options = parser.parse_args()
    stop_on_term()
    results = []
    with ExitStack() as stack:
        var_dir = options.logs or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))
        Path(var_dir).mkdir(parents=True, exist_ok=True)
        served = gateway(stack, var_dir, workers=options.workers, threads=options.threads,
                         upstream_args=("--latency-ms", str(options.latency_ms)))  # fmt: skip
        url = served.upstream_url if options.direct else served.url
        body = json.dumps(
            {"model": "llama3.2", "messages": [{"role": "user", "content": "Rate benchmark."}]}
        ).encode()
        request = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n"
            f"Authorization: Bearer {served.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        asyncio.run(at_rate(url, request, 50, 3))  # warm-up: both workers, caches, pools
        print(f"{'the fake upstream directly, ' if options.direct else ''}"
              f"gunicorn: {options.workers} gthread workers, threads per worker:"
              f" {options.threads or 'gunicorn.conf.py'}; upstream answers after"
              f" {options.latency_ms} ms; {options.seconds:g} s per rate")  # fmt: skip
        for rate in (int(r) for r in options.rates.split(",")):
            time.sleep(2)
            result = asyncio.run(at_rate(url, request, rate, options.seconds))
            results.append(result)
            print(f"  {rate:>4} calls/s offered: {result['completed_per_s']:>6} completed/s,"
                  f" p50 {result['p50_s']} s, p90 {result['p90_s']} s, p99 {result['p99_s']} s,"
                  f" max {result['max_s']} s, failed {result['failed']} {result['statuses'] or ''}"
                  f" (driver late by up to {result['driver_late_max_ms']} ms; load"
                  f" {result['load']})", flush=True)  # fmt: skip
            if result["over_bound_due_at_s"]:
                print(f"       over {BOUND_S} s: calls due at {result['over_bound_due_at_s']} s")
            if result["failed"] or (result["p99_s"] or 99) >= BOUND_S:
                break
    held = [r for r in results if not r["failed"] and r["p99_s"] < BOUND_S]
    best = max(held, key=lambda r: r["rate"]) if held else None
    print(f"highest rate with p99 < {BOUND_S} s and no failure:"
          f" {best['rate'] if best else 'none'} calls/s")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
