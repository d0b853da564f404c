"""Gateway overhead benchmark: the same requests sent straight to the fake upstream and through
the gateway, in one run, on this machine.

    python -m bench.gateway_bench [--seconds 5] [--workers 2] [--threads 32]

Starts the fake upstream and gunicorn (gthread, the repository's gunicorn.conf.py) on free loopback
ports with production settings (DEBUG off): PostgreSQL and Redis when DATABASE_URL and REDIS_URL
are set (give it a database of its own: it creates a workspace there), else a throw-away SQLite
database; then it measures with wrk (Debian's `wrk`):
added latency p50/p99 at concurrency 1 and 16 (gateway minus direct), requests/s through the
gateway at concurrency 64, and the added time to the first streamed token. Everything it starts,
it stops (process groups, also on Ctrl-C or TERM); all traffic goes to 127.0.0.1.

`gateway()` is the set-up the other benchmarks (bench/streams_bench.py, bench/rate_bench.py)
reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BODY = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def environment(var_dir: str, upstream_url: str) -> dict[str, str]:
    env = dict(os.environ)  # DATABASE_URL / REDIS_URL, if set, give the production setup
    env.update(
        DEBUG="0",
        SECRET_KEY="bench-" + "s" * 60,
        API_KEY_PEPPER="bench-pepper-" + "p" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        TOLLGATE_VAR_DIR=var_dir,
        OLLAMA_BASE_URL=upstream_url,
        LOG_LEVEL="WARNING",
        METRICS_ALLOWED_CIDRS="127.0.0.1/32",  # streams_bench scrapes /metrics from here
        EMAIL_CONSOLE_ALLOWED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def prepare(env: dict[str, str]) -> str:
    """Database, catalog, a workspace on an unlimited plan, and its key."""
    return prepare_workspace(env)[1]


def prepare_workspace(env: dict[str, str]) -> tuple[str, str]:
    """Database, catalog, a workspace on the catalog's `enterprise` plan (no quota, rate,
    concurrency or credit limit: nothing refuses a benchmark's load), and (its id, a key)."""
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "apply_catalog", "config/catalog.yaml")
    created = json.loads(
        manage(
            env,
            "create_workspace",
            "--name",
            "Bench",
            "--owner",
            "bench@localhost",
            "--plan",
            "enterprise",
        )
    )
    issued = json.loads(
        manage(env, "create_api_key", "--workspace", created["workspace"], "--name", "bench")
    )
    return created["workspace"], issued["key"]


def start(
    stack: ExitStack, command: list[str], env: dict[str, str], log: Path | None = None
) -> subprocess.Popen:
    """Start `command` in a process group of its own, stopped (TERM, then KILL to the whole
    group) when `stack` closes."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the stack
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )

    def stop() -> None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(15)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left in its group
        process.wait()
        if log:
            out.close()

    stack.callback(stop)
    return process


def stop_on_term() -> None:
    """TERM (a supervisor, `timeout`) unwinds like Ctrl-C, so that everything started stops."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@dataclass
class Gateway:
    upstream_url: str
    url: str
    workspace: str
    key: str
    env: dict[str, str]
    master: subprocess.Popen


def gateway(
    stack: ExitStack,
    var_dir: str,
    *,
    workers: int | None = None,
    threads: int | None = None,
    upstream_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> Gateway:
    """The fake upstream (with `upstream_args`), a workspace and key, gunicorn with the
    repository's gunicorn.conf.py (`workers` x `threads`, else its own, DEBUG off) and, with Redis, the usage
    flusher, all on free loopback ports; logs in `var_dir`. Stopped when `stack` closes."""
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    env = environment(var_dir, upstream_url)
    if workers:
        env["WEB_WORKERS"] = str(workers)
    if threads:
        env["WEB_THREADS"] = str(threads)
    env.update(extra_env or {})
    logs = Path(var_dir)
    command = [sys.executable, "-m", "bench.fake_upstream", "--port", str(upstream_port)]
    start(stack, [*command, *upstream_args], env, logs / "upstream.log")
    workspace, key = prepare_workspace(env)
    master = start(stack, [
        sys.executable, "-m", "gunicorn", "config.wsgi:application", "--config", "gunicorn.conf.py",
        "--bind", f"127.0.0.1:{gateway_port}", "--log-level", "warning",
    ], env, logs / "gunicorn.log")  # fmt: skip
    if env.get("REDIS_URL"):  # production shape: usage records leave through the flusher
        start(stack, [sys.executable, "manage.py", "flush_usage"], env, logs / "flush_usage.log")
    url = f"http://127.0.0.1:{gateway_port}"
    wait_until_up(upstream_url + "/_fake/health")  # not delayed by --latency-ms
    wait_until_up(url + "/healthz")
    return Gateway(upstream_url, url, workspace, key, env, master)


def wrk(url: str, key: str | None, connections: int, seconds: int) -> dict[str, float]:
    """requests/s and latency percentiles (ms) from wrk, POSTing BODY."""
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if key:
        headers += f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    script = f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n{headers}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    os.unlink(handle.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def time_to_first_token(url: str, key: str | None, samples: int) -> float:
    """Median ms from sending a streamed request to reading its first content chunk."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        with session.post(
            url, json={**BODY, "stream": True}, headers=headers, stream=True, timeout=10
        ) as response:
            for line in response.iter_lines(chunk_size=None):
                if (
                    line.startswith(b"data: {")
                    and b'"content":"' in line
                    and b'"content":""' not in line
                ):
                    timings.append((time.perf_counter() - started) * 1000)
                    break
            for _ in response.iter_lines(chunk_size=None):
                pass
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--ttft-samples", type=int, default=100)
    options = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")

    stop_on_term()
    with tempfile.TemporaryDirectory() as var_dir, ExitStack() as stack:
        served = gateway(stack, var_dir, workers=options.workers, threads=options.threads)
        upstream_url, gateway_url, key = served.upstream_url, served.url, served.key

        direct_chat = upstream_url + "/v1/chat/completions"
        gateway_chat = gateway_url + "/v1/chat/completions"
        wrk(gateway_chat, key, 4, 2)  # warm-up: connections, caches, snapshots
        results: dict[str, dict] = {}
        for connections in (1, 16):
            direct = wrk(direct_chat, None, connections, options.seconds)
            through = wrk(gateway_chat, key, connections, options.seconds)
            results[f"c{connections}"] = {
                "direct": direct,
                "gateway": through,
                "added_p50_ms": round(through["p50"] - direct["p50"], 2),
                "added_p99_ms": round(through["p99"] - direct["p99"], 2),
            }
        results["c64"] = {
            "direct": wrk(direct_chat, None, 64, options.seconds),
            "gateway": wrk(gateway_chat, key, 64, options.seconds),
        }
        ttft_direct = time_to_first_token(direct_chat, None, options.ttft_samples)
        ttft_gateway = time_to_first_token(gateway_chat, key, options.ttft_samples)
        results["ttft"] = {
            "direct_ms": round(ttft_direct, 2),
            "gateway_ms": round(ttft_gateway, 2),
            "added_ms": round(ttft_gateway - ttft_direct, 2),
        }

    print(
        f"gunicorn gthread, {options.workers} workers x {options.threads} threads; wrk {options.seconds}s per run"
    )
    for name in ("c1", "c16"):
        row = results[name]
        print(
            f"concurrency {name[1:]:>2}: added p50 {row['added_p50_ms']:6.2f} ms, added p99 {row['added_p99_ms']:6.2f} ms"
            f"  (gateway p50 {row['gateway']['p50']:.2f} / direct {row['direct']['p50']:.2f} ms)"
        )
    c64 = results["c64"]
    print(
        f"concurrency 64: gateway {c64['gateway']['rps']:.0f} req/s (direct {c64['direct']['rps']:.0f} req/s),"
        f" p99 {c64['gateway']['p99']:.1f} ms"
    )
    ttft = results["ttft"]
    print(
        f"first streamed token: added {ttft['added_ms']:.2f} ms (gateway {ttft['gateway_ms']:.2f} / direct {ttft['direct_ms']:.2f} ms, median)"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
