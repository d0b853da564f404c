"""The real-clients harness: the programs people run (Claude Code, Codex, the SDKs) against a live
gateway, as a user would run them, by changing only their base URL and key.

    def test_it_answers(gateway):
        claude = node_bin("claude")                      # skipped (or failed in CI) if missing
        client_version("Claude Code", "2.1.332")         # shown in the terminal summary
        ... ANTHROPIC_BASE_URL=gateway.url, ANTHROPIC_API_KEY=gateway.key ...
        records = gateway.wait_for_records(1)            # the usage records of gateway.key

`gateway` (one for the tests/clients package: package scope, so that it is stopped before any
other test that runs servers on the same Redis, whose usage stream its flusher would read):
gunicorn serving the gateway with production settings (DEBUG=0, a
real SECRET_KEY, the repository's gunicorn.conf.py) on a free port of 127.0.0.1, in its own
process group; the default catalog with bench's fake upstream as its upstream; a workspace on
the `enterprise` plan with every scope (`key`) and a second one (`other_key`). Without
DATABASE_URL/REDIS_URL it runs embedded (SQLite under the session's temp dir, in-process
counters, one worker); with them on a scratch PostgreSQL database `<name>_clients` (dropped at
the end) and Redis, with the usage flusher beside it.

The npm clients are installed by `make clients` (tests/clients/node, pinned by its lock file).
A client that is not installed is skipped with the reason, unless TOLLGATE_REQUIRE_CLIENTS=1
(.ci/run sets it), where it fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bench.fake_upstream import FakeUpstream
from tests import servers

NODE_DIR = Path(__file__).resolve().parent / "node"
REQUIRE_CLIENTS = os.environ.get("TOLLGATE_REQUIRE_CLIENTS", "") not in ("", "0")
_versions: dict[str, str] = {}


def missing_client(reason: str) -> None:
    """Skips the test (`reason` says what to install), or fails it when clients are required."""
    if REQUIRE_CLIENTS:
        pytest.fail(f"{reason} (TOLLGATE_REQUIRE_CLIENTS is set)")
    pytest.skip(reason)


def node_bin(name: str) -> str:
    """The path of an installed npm client's program (`claude`, `codex`); skips when absent."""
    path = NODE_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        missing_client(f"{name} is not installed: run `make clients`")
    return str(path)


def node_package(name: str) -> Path:
    """The folder of an installed npm package (`ai`, `@ai-sdk/anthropic`); skips when absent."""
    path = NODE_DIR / "node_modules" / name
    if not (path / "package.json").exists():
        missing_client(f"the npm package {name} is not installed: run `make clients`")
    return path


def node_package_version(name: str) -> str:
    return json.loads((node_package(name) / "package.json").read_text())["version"]


def python_client(module: str, package: str | None = None) -> Any:
    """An installed Python client module (`ollama`, `agents`); skips when absent."""
    try:
        return __import__(module)
    except ImportError:
        missing_client(f"the Python package {package or module} is not installed")


def client_version(name: str, version: str) -> None:
    """Records a client's version: the terminal summary lists every client a run used."""
    _versions[name] = version.strip()


def run_node(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """`node tests/clients/node/<script> args…` (so that it imports the installed packages);
    the completed process, its output as text."""
    if not (NODE_DIR / "node_modules").exists():
        missing_client("the npm clients are not installed: run `make clients`")
    return subprocess.run(
        ["node", str(NODE_DIR / script), *args],
        cwd=NODE_DIR,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _versions:
        listed = ", ".join(f"{name} {version}" for name, version in sorted(_versions.items()))
        terminalreporter.write_line(f"real clients tested: {listed}")


@dataclass
class Gateway:
    """The live gateway of the session; `url` has no trailing slash."""

    url: str
    key: str  # the `enterprise` workspace's key: every scope, local models included
    other_key: str  # a key of a second workspace (isolation checks)
    workspace: str
    other_workspace: str
    upstream: FakeUpstream
    database: str  # a PostgreSQL URL, or the SQLite file's path
    log: Path
    home: Path  # a scratch folder for clients' homes and config dirs
    _columns: list[str] = field(default_factory=list)

    def records(self, workspace: str | None = None) -> list[dict[str, Any]]:
        """The usage records of `workspace` (default: the key's), newest first, as dicts of the
        billing_usagerecord columns (endpoint, dialect, requested_model, served_model, stream,
        status, prompt_tokens, completion_tokens, credits, ...)."""
        wanted = uuid.UUID(workspace or self.workspace)
        query = "SELECT * FROM billing_usagerecord ORDER BY started_at DESC, id DESC"
        if self.database.startswith("postgres"):
            with psycopg.connect(self.database, row_factory=dict_row) as connection:
                rows = connection.execute(query).fetchall()
        else:
            with contextlib.closing(sqlite3.connect(self.database, timeout=20)) as connection:
                connection.row_factory = sqlite3.Row
                rows = [dict(row) for row in connection.execute(query)]
        return [row for row in rows if uuid.UUID(str(row["workspace_id"])) == wanted]

    def wait_for_records(
        self, count: int, workspace: str | None = None, seconds: float = 20
    ) -> list[dict[str, Any]]:
        """The records once there are at least `count` (they are written after the answer, or
        by the flusher): at most `seconds` of waiting."""
        servers.wait_for(lambda: len(self.records(workspace)) >= count, seconds, every=0.2)
        return self.records(workspace)

    def home_dir(self, name: str) -> Path:
        """An empty folder of its own for one client run (HOME, a config dir, a project)."""
        path = self.home / f"{name}-{secrets.token_hex(4)}"
        path.mkdir(parents=True)
        return path


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("gateway")
    log = tmp / "gateway.log"
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(FakeUpstream(port=0))
        postgres = bool(os.environ.get("DATABASE_URL"))
        database = stack.enter_context(servers.scratch_database("_clients")) if postgres else ""
        env = servers.production_env(
            database,
            tmp,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            OLLAMA_BASE_URL=upstream.url,
            CACHE_KEY_PREFIX=f"clients-{secrets.token_hex(4)}",
        )
        made = servers.run_setup(["-m", "tests.clients.gateway_setup"], env)
        processes = stack.enter_context(servers.Processes())
        # Embedded counters live in the process: one worker then, as `make run` has.
        workers = "2" if os.environ.get("REDIS_URL") else "1"
        server = processes.gunicorn(env, log, "--workers", workers, "--threads", "32")
        if os.environ.get("REDIS_URL"):
            processes.start([sys.executable, "manage.py", "flush_usage"], env, log)
        servers.wait_until_up(server.url, log)
        yield Gateway(
            url=server.url,
            key=made["main"]["key"],
            other_key=made["other"]["key"],
            workspace=made["main"]["workspace"],
            other_workspace=made["other"]["workspace"],
            upstream=upstream,
            database=database or str(tmp / "tollgate.sqlite3"),
            log=log,
            home=tmp_path_factory.mktemp("homes"),
        )


@pytest.fixture(scope="session")
def node_version() -> str:
    """`node --version` (recorded), or a skip when there is no node."""
    try:
        found = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        missing_client("node is not installed")
    client_version("node", found.stdout)
    return found.stdout.strip()
