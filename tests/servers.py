"""The harness of the tests that run the gateway for real: gunicorn (and the usage flusher) in
subprocesses with production settings, on a scratch PostgreSQL database of the test's own.

    with scratch_database("_mine") as database, Processes() as processes:
        env = production_env(database, tmp_path, LIMIT_LEASE_SECONDS="2")
        made = run_setup(["-c", SETUP, str(catalog)], env)
        server = processes.gunicorn(env, tmp_path / "gunicorn.log", "--workers", "1")
        wait_until_up(server.url, server.log)

What a test module sets up for itself (its catalog, plans, workspaces, settings of its own, what
stands between the server and its database) stays in that module.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent  # the repository: where the subprocesses run
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], T], timeout: float, every: float = 0.1) -> T:
    """`predicate()` polled every `every` s until it is truthy or `timeout` s have passed; its
    last value (falsy when time ran out)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@contextlib.contextmanager
def scratch_database(suffix: str, url: str | None = None) -> Iterator[str]:
    """A database of the test's own on the server of `url` (default DATABASE_URL), named after
    that URL's database plus `suffix` (h10 + "_outage" → h10_outage): its URL. Dropped first if
    a previous run left it, and dropped at the end, open connections or not."""
    parts = urlsplit(url or os.environ["DATABASE_URL"])
    name = f"{parts.path.lstrip('/') or 'postgres'}{suffix}"
    admin = parts._replace(path="/postgres").geturl()

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    drop()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        drop()


def production_env(
    database_url: str, var_dir: Path, *, tls_terminated: bool = False, **extra: str
) -> dict[str, str]:
    """The environment of a gateway process as in production: DEBUG off, a fresh SECRET_KEY and
    API_KEY_PEPPER, the given database with a small pool (several processes share one
    PostgreSQL), state under `var_dir`, warnings and worse in the log; `extra` on top.

    The redirect to https is off unless `tls_terminated` (the test then speaks to the server as
    a TLS-terminating balancer would, with `X-Forwarded-Proto: https`). PROMETHEUS_MULTIPROC_DIR
    is not passed on: gunicorn.conf.py gives the server one under `var_dir`; set it in `extra`
    to choose."""
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        API_KEY_PEPPER=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        DATABASE_POOL_MIN="1",
        DATABASE_POOL_MAX="4",
        TOLLGATE_VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        EMAIL_CONSOLE_ALLOWED="1",
    )
    if not tls_terminated:
        env["SECURE_SSL_REDIRECT"] = "0"
    env.update(extra)
    return env


def fake_llama_catalog(upstream_url: str) -> str:
    """Catalog YAML for `apply_catalog`: the upstream `fake` (Ollama-style, at `upstream_url`,
    usually bench's FakeUpstream) and the model llama3.2 deployed on it. A module appends it to
    its own settings and plans."""
    return f"""
upstreams:
  - {{name: fake, kind: ollama, base_url: "{upstream_url}", timeout: 30}}
models:
  - name: llama3.2
    context_window: 131072
    deployments: [{{upstream: fake, model: llama3.2}}]
"""


def run_setup(args: list[str], env: dict[str, str], timeout: float = 120) -> Any:
    """`python <args>` run to its end in the repository with `env` (a set-up script: migrate,
    apply a catalog, create workspaces and keys); the JSON of the last line it prints. Fails
    the test with its stderr if it fails."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Server:
    """A gunicorn master started by `Processes.gunicorn`."""

    url: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


class Processes:
    """Subprocesses each in a process group (a session) of its own, run in the repository with
    their output appended to a log file. `stop`, or leaving the `with` block, ends them all:
    TERM to every group at once, then KILL to what is left after 15 s, children included."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        """`command` started with `env`; stdout and stderr appended to `log` (which several
        processes may share)."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def gunicorn(self, env: dict[str, str], log: Path, *options: str) -> Server:
        """gunicorn serving the gateway (gthread workers) on a free port of 127.0.0.1, with
        `options` (--workers, --threads, --config, ...) added. Not waited for: see
        `wait_until_up`."""
        port = free_port()
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", *options,
        ]  # fmt: skip
        return Server(f"http://127.0.0.1:{port}", self.start(command, env, log), log)

    def stop(self) -> None:
        for process in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.running.clear()


def wait_until_up(url: str, log: Path, seconds: float = 40) -> None:
    """Returns once `url`/healthz answers 200; fails the test with the end of `log` if it has
    not within `seconds`."""

    def up() -> bool:
        with contextlib.suppress(requests.RequestException):
            return requests.get(url + "/healthz", timeout=2).status_code == 200
        return False

    assert wait_for(up, seconds, every=0.2), f"{url} did not come up:\n{log.read_text()[-3000:]}"
