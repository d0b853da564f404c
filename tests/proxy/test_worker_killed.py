"""A gunicorn worker killed mid-stream (SIGKILL: no `finally`, no settlement): the client sees
its connection close, the workspace's only concurrency slot frees itself once the stream's
lease lapses, and the call's usage record is written once, as incomplete (billing/lost_streams).

The gateway runs under real gunicorn (gthread, one worker, production settings) on a database
the test makes and migrates (`<DATABASE_URL's name>_gunicorn`, dropped at the end) and REDIS_URL,
with LIMIT_LEASE_SECONDS=2 so that it all happens in seconds."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from bench.fake_upstream import FakeUpstream
from tests import servers
from tests.servers import wait_until_up

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LEASE = 2  # LIMIT_LEASE_SECONDS of the server under test
CATALOG = """
settings: {endpoint_credits: {chat_completions: 1}}
plans:
  - {code: one_slot, name: One slot, scopes: [chat], max_concurrency: 1, monthly_credits: 100}
"""
SETUP = """
import io, json, sys, django
django.setup()
from django.core.management import call_command
def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())
call_command("migrate", verbosity=0)
call_command("apply_catalog", sys.argv[1], stdout=io.StringIO())
made = run("create_workspace", "--name", "Killed", "--owner", "k@worker.test", "--plan", "one_slot")
key = run("create_api_key", "--workspace", made["workspace"], "--name", "k")
print(json.dumps({"workspace": made["workspace"], "key": key["key"]}))
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict]:
    """The fake upstream, and gunicorn serving the gateway on it: {url, key, workspace, pid,
    database, log}."""
    with (
        servers.scratch_database("_gunicorn") as database,
        FakeUpstream() as upstream,
        servers.Processes() as processes,
    ):
        env = servers.production_env(
            database,
            tmp_path,
            LIMIT_LEASE_SECONDS=str(LEASE),
            USAGE_QUEUE="0",  # records straight to the database: no flusher to run beside it
        )
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(CATALOG + servers.fake_llama_catalog(upstream.url))
        made = servers.run_setup(["-c", SETUP, str(catalog)], env)
        gunicorn = processes.gunicorn(
            env, tmp_path / "gunicorn.log", "--workers", "1", "--threads", "4", "--timeout", "0"
        )
        servers.wait_until_up(gunicorn.url, gunicorn.log)
        yield {
            **made,
            "url": gunicorn.url,
            "pid": gunicorn.pid,
            "database": database,
            "log": gunicorn.log,
        }


def worker_of(master: int) -> int:
    """The pid of the gunicorn master's (one) worker."""
    children = servers.wait_for(
        lambda: Path(f"/proc/{master}/task/{master}/children").read_text().split(), 20
    )
    assert children, "gunicorn started no worker"
    return int(children[0])


def stream(server: dict, prompt: str, *, timeout: float = 10) -> requests.Response:
    return requests.post(
        server["url"] + "/v1/chat/completions",
        json={
            "model": "llama3.2",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        },
        headers={"Authorization": f"Bearer {server['key']}", "Connection": "close"},
        stream=True,
        timeout=timeout,
    )


def records(server: dict) -> list[tuple]:
    with psycopg.connect(server["database"]) as connection:
        return connection.execute(
            "SELECT status, error_code, incomplete, prompt_tokens, completion_tokens,"
            " tokens_estimated, credits FROM billing_usagerecord WHERE workspace_id = %s"
            " ORDER BY started_at",
            [server["workspace"]],
        ).fetchall()


def test_it_frees_the_slot_and_records_the_call_of_a_worker_killed_mid_stream(server) -> None:
    victim = worker_of(server["pid"])
    # About 20 s of stream: it is still going when the worker dies.
    response = stream(server, "[[tokens:200]] [[chunk_delay:100]] a long story")
    assert response.status_code == 200
    lines = response.iter_lines()
    seen = [line for _, line in zip(range(12), lines, strict=False) if line.startswith(b"data: {")]
    assert len(seen) >= 3

    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    rest: list[bytes] = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # closed mid-chunked-body
        rest.extend(lines)
    assert time.monotonic() - killed < 5
    assert b"data: [DONE]" not in rest

    # The slot frees itself: the lease lapses; meanwhile the one slot is taken.
    wait_until_up(server["url"], server["log"])
    answers: list[int] = []
    while time.monotonic() - killed < LEASE + 10:
        with stream(server, "[[tokens:3]] hi") as after:
            answers.append(after.status_code)
            if after.status_code == 200:
                assert after.content.rstrip().endswith(b"data: [DONE]")
                break
            assert after.json()["error"]["code"] == "rate_limit_exceeded"
        time.sleep(0.3)
    assert answers[-1] == 200, answers
    assert time.monotonic() - killed < LEASE + 10

    # Once its deadline has passed too, a stream's start sweeps the lost call: recorded once.
    deadline = time.monotonic() + 2 * LEASE + 15
    while not any(r[1] == "worker_lost" for r in records(server)):
        assert time.monotonic() < deadline, records(server)
        time.sleep(0.5)
        with stream(server, "[[tokens:3]] hi") as again:
            assert again.status_code == 200 and again.content.rstrip().endswith(b"[DONE]")
    time.sleep(2 * LEASE + 1)
    with stream(server, "[[tokens:3]] hi") as last:  # a later sweep finds nothing more to do
        assert last.status_code == 200 and last.content.rstrip().endswith(b"[DONE]")
    lost = [r for r in records(server) if r[1] == "worker_lost"]
    assert len(lost) == 1
    status, _, incomplete, prompt, completion, estimated, credits = lost[0]
    assert (status, incomplete, estimated) == (500, True, True)
    assert prompt > 0 and completion == 0  # the prompt estimate; no completion tokens known
    assert credits == 1  # billed like any stream cut after it started
    others = {(r[0], r[1]) for r in records(server) if r[1] != "worker_lost"}
    assert others <= {(200, ""), (429, "rate_limit_exceeded")}  # refusals while the slot was held
