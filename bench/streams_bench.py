"""Capacity: many concurrent streams held open through the gateway, what each costs in memory,
and whether anything is left behind once they end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h9_bench REDIS_URL=redis://127.0.0.1:6379/10 \\
      .venv/bin/python -m bench.streams_bench [--streams 1000] [--workers 2] [--threads N]

Starts the fake upstream streaming slowly (37 tokens, 250 ms between events: ~10 s a stream),
gunicorn with the repository's gunicorn.conf.py (2 workers, its threads unless --threads) and
the usage flusher (bench/gateway_bench.gateway()), on an unlimited plan. Then, for each round
(--rounds, default 2), one asyncio client on raw sockets opens the streams in --steps batches;
after each batch has its first event it samples, per gunicorn worker, the PSS (smaps_rollup),
threads and file descriptors (sockets told apart by peer: clients, upstream, Redis, PostgreSQL).
It reports: streams complete with their `data: [DONE]` (and failures), time to the first event,
the memory per open stream (least-squares slope of the workers' summed PSS against the number
open), and after the streams end and their keep-alive expires: each worker's threads and
descriptors against the round's start, the workspace's in-flight counter in Redis and the
streams-in-flight gauge of /metrics. Round 1 starts on fresh workers (the slope includes the
creation of the threads); round 2 on the threads round 1 left (gthread keeps its pool), so "no
leak" is round 2 ending where it started. --reload adds a round in which the master gets a
SIGHUP (graceful reload) once all streams are open: they must all still end with [DONE] while
new workers take over. All traffic to 127.0.0.1; everything started is
stopped (process groups), also on Ctrl-C or TERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.gateway_bench import Gateway, gateway, stop_on_term

PROMPT = "Tell the capacity benchmark a long story."
KEEPALIVE_WAIT = 7.0  # gunicorn.conf.py's keepalive (5 s) and a margin


@dataclass
class Stream:
    status: int = 0
    first_event: float = 0.0  # seconds after connecting
    opened_at: float = 0.0  # time.monotonic() of the first event
    duration: float = 0.0
    done: bool = False
    error: str = ""


@dataclass
class Round:
    streams: list[Stream] = field(default_factory=list)
    opened: int = 0
    finished: int = 0
    streaming: int = 0  # first event received, not ended


async def one_stream(host: str, port: int, request: bytes, out: Stream, live: Round) -> None:
    started = time.monotonic()
    opened = False
    try:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 60)
            out.status = int(status_line.split()[1]) if status_line else 0
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            tail = b""
            while True:
                data = await asyncio.wait_for(reader.read(65536), 60)
                if not data:
                    break
                if not opened and b"data: {" in data:
                    opened = True
                    out.opened_at = time.monotonic()
                    out.first_event = out.opened_at - started
                    live.opened += 1
                    live.streaming += 1
                tail = (tail + data)[-4096:]
                if b"event: error" in tail or b'"error":' in tail:
                    out.error = "error event: " + tail.decode(errors="replace")[-300:]
                    break
                if b"data: [DONE]" in tail:
                    out.done = True
                    break
        finally:
            writer.close()
    except Exception as exc:  # counted as a failure, whatever it is
        out.error = f"{type(exc).__name__}: {exc}"
    out.duration = time.monotonic() - started
    if not out.done and not out.error:
        out.error = f"status {out.status}, ended without [DONE]"
    if opened:
        live.streaming -= 1
    else:
        live.opened += 1  # never opened: do not keep the next batch waiting for it
    live.finished += 1


# --- What the workers hold ----------------------------------------------------------------


def workers_of(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry))
    return sorted(pids)


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def tcp_sockets(pid: int) -> dict[str, tuple[int, int, str]]:
    """inode -> (local port, remote port, state) of every TCP socket in the namespace."""
    table = {}
    for name in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
            table[inode] = (
                int(local.rsplit(":", 1)[1], 16),
                int(remote.rsplit(":", 1)[1], 16),
                state,
            )
    return table


STATES = {"01": "", "08": " CLOSE_WAIT", "06": " TIME_WAIT", "0A": " LISTEN"}


def descriptors(pid: int, ports: dict[int, str]) -> Counter:
    """The worker's open descriptors by kind: sockets by their peer (`ports`: remote port ->
    name; the gateway's own port names the clients), other sockets, and files/pipes."""
    sockets = tcp_sockets(pid)
    kinds: Counter = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if not target.startswith("socket:["):
            kinds["files"] += 1
            continue
        found = sockets.get(target[8:-1])
        if found is None:
            kinds["other sockets"] += 1
            continue
        local, remote, state = found
        kind = ports.get(local if state == "0A" or local in ports else remote, "other tcp")
        kinds[kind + STATES.get(state, f" state {state}")] += 1
    return kinds


def snapshot(master: int, ports: dict[int, str]) -> dict[int, dict]:
    return {
        pid: {
            "pss_kb": pss_kb(pid),
            "threads": len(os.listdir(f"/proc/{pid}/task")),
            "fds": dict(descriptors(pid, ports)),
        }
        for pid in workers_of(master)
    }


def clients_open(snap: dict[int, dict]) -> int:
    return sum(n for s in snap.values() for k, n in s["fds"].items() if k.startswith("clients"))


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of PSS (kB) against streams open."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def redis_clients(served: Gateway, master: int) -> dict[str, int]:
    """The workers' Redis connections by the last command each sent (CLIENT LIST)."""
    import redis

    if not served.env.get("REDIS_URL"):
        return {}
    ports = set()
    for pid in workers_of(master):
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}  # fmt: skip
        ports |= {v[0] for k, v in tcp_sockets(pid).items() if k in inodes and v[1] == 6379}
    client = redis.Redis.from_url(served.env["REDIS_URL"])
    listed = client.client_list()
    client.close()
    return dict(Counter(c["cmd"] for c in listed if int(c["addr"].rsplit(":", 1)[1]) in ports))


def in_flight(served: Gateway) -> tuple[int, float]:
    """The workspace's in-flight set in Redis, and the summed streams-in-flight gauge."""
    import redis

    counter = -1
    if served.env.get("REDIS_URL"):
        client = redis.Redis.from_url(served.env["REDIS_URL"])
        counter = client.zcard(f"lim:{{{served.workspace}}}:inflight")
        client.close()
    gauge = 0.0
    for line in requests.get(served.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("tollgate_streams_in_flight"):
            gauge += float(line.rsplit(" ", 1)[1])
    return counter, gauge


# --- One round ------------------------------------------------------------------------------


async def run_round(
    served: Gateway, options: argparse.Namespace, ports: dict[int, str], reload: bool = False
) -> dict:
    target = urlsplit(served.url)
    body = json.dumps(
        {"model": "llama3.2", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    ).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {target.netloc}\r\n"
        f"Authorization: Bearer {served.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    requests.delete(served.upstream_url + "/_fake/requests", timeout=5)
    live = Round()
    before = snapshot(served.master.pid, ports)
    samples = [(0, sum(s["pss_kb"] for s in before.values()), before)]
    tasks: list[asyncio.Task] = []
    started = time.monotonic()
    batch = options.streams // options.steps
    for step in range(1, options.steps + 1):
        for _ in range(batch if step < options.steps else options.streams - len(tasks)):
            live.streams.append(Stream())
            coroutine = one_stream(target.hostname, target.port, request, live.streams[-1], live)
            tasks.append(asyncio.create_task(coroutine))
        # Until the batch streams; a connection whose SYN was dropped is retried by the kernel
        # 1, 3 and 7 s later, so at most 3 s: the sample counts the streams actually open.
        deadline = time.monotonic() + 3
        while live.opened < len(tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the last batch's first events settle
        snap = snapshot(served.master.pid, ports)
        samples.append((live.streaming, sum(s["pss_kb"] for s in snap.values()), snap))
    all_open_at = time.monotonic() - started
    old_workers = workers_of(served.master.pid)
    streaming_at_hup, hup_at = live.streaming, time.monotonic()
    if reload:  # graceful reload with the streams open: old workers drain, new ones serve
        os.kill(served.master.pid, signal.SIGHUP)
    await asyncio.gather(*tasks)
    ended = time.monotonic() - started
    deadline = time.monotonic() + KEEPALIVE_WAIT + 10
    while reload and set(workers_of(served.master.pid)) & set(old_workers):
        await asyncio.sleep(0.5)  # the old workers exit once their streams are done
    after = snapshot(served.master.pid, ports)
    while clients_open(after) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        after = snapshot(served.master.pid, ports)
    await asyncio.sleep(1.0)  # settlement's last Redis calls, the flusher
    after = snapshot(served.master.pid, ports)
    counter, gauge = in_flight(served)
    redis_by_command = redis_clients(served, served.master.pid)
    upstream = requests.get(served.upstream_url + "/_fake/requests?limit=1000", timeout=10).json()
    records = upstream if isinstance(upstream, list) else upstream.get("requests", [])
    streams = live.streams
    failures = [s for s in streams if not s.done]
    return {
        "streams": len(streams),
        "done": sum(s.done for s in streams),
        "failed": len(failures),
        "failures": Counter(s.error[:120] for s in failures).most_common(5),
        "first_event_ms": {
            "median": round(statistics.median(s.first_event for s in streams) * 1000, 1),
            "max": round(max(s.first_event for s in streams) * 1000, 1),
            "over_2s": sum(s.first_event > 2 for s in streams),
        },
        "duration_s": {
            "min": round(min(s.duration for s in streams), 2),
            "median": round(statistics.median(s.duration for s in streams), 2),
            "max": round(max(s.duration for s in streams), 2),
        },
        "all_open_after_s": round(all_open_at, 2),
        "all_ended_after_s": round(ended, 2),
        "pss_points": [(n, kb) for n, kb, _ in samples],
        "kb_per_stream": round(slope([(n, kb) for n, kb, _ in samples]), 1),
        "clients_per_worker_at_peak": [
            sum(n for k, n in s["fds"].items() if k.startswith("clients"))
            for s in samples[-1][2].values()
        ],
        "before": before,
        "at_peak": samples[-1][2],
        "after": after,
        "inflight_counter": counter,
        "workers": [old_workers, workers_of(served.master.pid)],
        "streaming_at_hup": streaming_at_hup,
        "failed_streaming_at_hup": sum(0 < s.opened_at < hup_at for s in failures),
        "redis_by_last_command": redis_by_command,
        "streams_in_flight_gauge": gauge,
        "upstream_completed": sum(bool(r.get("completed")) for r in records),
        "upstream_disconnected": sum(bool(r.get("disconnected")) for r in records),
    }


def report(number: int, result: dict) -> None:
    print(f"\nround {number}: {result['done']}/{result['streams']} streams ended with [DONE],"
          f" {result['failed']} failed {result['failures'] or ''}")  # fmt: skip
    print(f"  first event: median {result['first_event_ms']['median']} ms,"
          f" max {result['first_event_ms']['max']} ms"
          f" ({result['first_event_ms']['over_2s']} over 2 s); stream duration"
          f" {result['duration_s']['min']}-{result['duration_s']['max']} s;"
          f" all open {result['all_open_after_s']} s after the first, all ended after"
          f" {result['all_ended_after_s']} s")  # fmt: skip
    points = ", ".join(f"{n}: {kb / 1024:.1f}" for n, kb in result["pss_points"])
    print(f"  workers' summed PSS (MB) by streams open: {points}")
    print(f"  memory per open stream (PSS slope): {result['kb_per_stream']} kB;"
          f" clients per worker at the peak: {result['clients_per_worker_at_peak']}")  # fmt: skip
    for pid in result["before"]:
        b, p, a = result["before"][pid], result["at_peak"].get(pid), result["after"].get(pid)
        print(f"  worker {pid}: threads {b['threads']} -> {p and p['threads']} -> {a and a['threads']};"
              f" fds {sum(b['fds'].values())} -> {p and sum(p['fds'].values())}"
              f" -> {a and sum(a['fds'].values())}")  # fmt: skip
        print(f"    before {dict(sorted(b['fds'].items()))}")
        print(f"    after  {a and dict(sorted(a['fds'].items()))}")
    print(f"  in-flight counter in Redis: {result['inflight_counter']},"
          f" streams-in-flight gauge: {result['streams_in_flight_gauge']:g};"
          f" upstream saw {result['upstream_completed']} completed,"
          f" {result['upstream_disconnected']} disconnected")  # fmt: skip
    print(f"  workers' Redis connections by last command: {result['redis_by_last_command']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--tokens", type=int, default=37)
    parser.add_argument("--chunk-delay-ms", type=int, default=250)
    parser.add_argument("--logs", help="keep the servers' logs in this directory")
    parser.add_argument(
        "--reload", action="store_true", help="then a round with a SIGHUP while all are open"
    )
    options = parser.parse_args()
    stop_on_term()
    with ExitStack() as stack:
        var_dir = options.logs or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))
        Path(var_dir).mkdir(parents=True, exist_ok=True)
        upstream_args = ("--reply-tokens", str(options.tokens),
                         "--chunk-delay-ms", str(options.chunk_delay_ms))  # fmt: skip
        served = gateway(stack, var_dir, workers=options.workers, threads=options.threads,
                         upstream_args=upstream_args)  # fmt: skip
        ports = {
            urlsplit(served.url).port: "clients",
            urlsplit(served.upstream_url).port: "upstream",
            6379: "redis",
            5432: "postgres",
        }
        # Warm each worker (imports, snapshots, pools) with a few short calls.
        for _ in range(8):
            requests.post(
                served.url + "/v1/chat/completions",
                json={"model": "llama3.2", "messages": [{"role": "user", "content": "[[tokens:1]] hi"}]},
                headers={"Authorization": f"Bearer {served.key}"},
                timeout=30,
            ).raise_for_status()  # fmt: skip
        time.sleep(KEEPALIVE_WAIT)
        workers = workers_of(served.master.pid)
        print(f"gunicorn: {len(workers)} gthread workers {workers}, threads per worker:"
              f" {options.threads or 'gunicorn.conf.py'}; {options.streams} streams of"
              f" {options.tokens} tokens, {options.chunk_delay_ms} ms apart;"
              f" load average {os.getloadavg()[0]:.2f}")  # fmt: skip
        results = []
        for number in range(1, options.rounds + 1):
            results.append(asyncio.run(run_round(served, options, ports)))
            report(number, results[-1])
        if options.reload:
            result = asyncio.run(run_round(served, options, ports, reload=True))
            print(f"\nreload round (SIGHUP to the master {result['all_open_after_s']} s in,"
                  f" {result['streaming_at_hup']} streaming): {result['done']}/{result['streams']}"
                  f" streams ended with [DONE], {result['failed']} failed"
                  f" ({result['failed_streaming_at_hup']} of those streaming at the SIGHUP)"
                  f" {result['failures'] or ''}; durations"
                  f" {result['duration_s']['min']}-{result['duration_s']['max']} s; workers"
                  f" {result['workers'][0]} -> {result['workers'][1]}; in-flight counter"
                  f" {result['inflight_counter']}, gauge {result['streams_in_flight_gauge']:g}")  # fmt: skip
            results.append(result)
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
        log = Path(var_dir) / "gunicorn.log"
        errors = [
            line
            for line in log.read_text().splitlines()
            if "error" in line.lower() or "warn" in line.lower()
        ]
        if errors:
            print(
                f"gunicorn log ({len(errors)} error/warning lines), the first:",
                *errors[:5],
                sep="\n  ",
            )
    print(json.dumps([{k: v for k, v in r.items() if k not in ("before", "at_peak")} for r in results],
                     default=str))  # fmt: skip
    if any(r["failed"] or r["inflight_counter"] > 0 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
