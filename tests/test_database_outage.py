"""PostgreSQL goes away under a running gateway, for real: gunicorn and the usage flusher reach
the database only through a TCP proxy that the test cuts (every connection closed, new ones
refused) and restores. The server itself, shared with everyone, is never touched.

While it is away, new calls get 503 `database_unavailable` in their endpoint's format with a
Retry-After, and /healthz says so; a stream already running finishes, and its usage record and
ledger entry wait in the Redis usage queue until the database is back, then land exactly once;
new calls succeed again without a restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import psycopg
import pytest
import redis

from bench.fake_upstream import FakeUpstream
from tests import servers
from tests.servers import wait_for

from .cuttable_proxy import CuttableProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


SEED = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import User
from accounts.services import create_workspace
from billing.catalog import DEFAULT_CATALOG, apply_file
from billing.models import Plan
from keys.services import issue_key
from proxy.models import Deployment, Model, Upstream, UpstreamKind
apply_file(DEFAULT_CATALOG)
Model.objects.filter(workspace=None).delete()
upstream = Upstream.objects.create(
    name="fake", kind=UpstreamKind.OLLAMA, base_url=sys.argv[1], timeout=10
)
llama = Model.objects.create(
    name="llama3.2", aliases=["claude-3-5-haiku*"], context_window=131072,
    input_price_per_mtok=1000, output_price_per_mtok=2000,
)
Deployment.objects.create(model=llama, upstream=upstream, upstream_model="llama3.2")
owner = User.objects.create_user(email="owner@outage.test", password="x" * 20)
workspace = create_workspace("Outage", owner, Plan.objects.get(code="payg"))
print(json.dumps({
    "workspace": str(workspace.pk),
    "known": issue_key(workspace, "known").secret,
    "unknown": issue_key(workspace, "unknown").secret,
}))
"""


@dataclass
class Gateway:
    url: str
    proxy: CuttableProxy
    database: str  # conninfo of the test's database, straight to the server (not the proxy)
    redis_url: str
    keys: dict[str, str]
    log: Path
    http: httpx2.Client = field(default_factory=lambda: httpx2.Client(timeout=30))

    def chat(self, key: str, request_id: str, **body: object) -> httpx2.Response:
        return self.http.post(
            f"{self.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}", "X-Request-Id": request_id},
            json={"model": "llama3.2", "max_tokens": 50, **body}
            | {"messages": body.get("messages") or [{"role": "user", "content": "Hello"}]},
        )

    def messages(self, key: str, request_id: str) -> httpx2.Response:
        return self.http.post(
            f"{self.url}/v1/messages",
            headers={
                "x-api-key": key,
                "X-Request-Id": request_id,
                "anthropic-version": "2023-06-01",
            },
            json={
                "model": "claude-3-5-haiku-latest",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "Hello"}],
            },
        )

    def healthz(self) -> httpx2.Response:
        return self.http.get(f"{self.url}/healthz")

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def records(self, request_id: str) -> list[tuple]:
        return self.rows(
            "SELECT call_id, status, stream, incomplete, completion_tokens, cost"
            " FROM billing_usagerecord WHERE request_id = %s",
            request_id,
        )

    def ledger(self, call_id: str) -> list[tuple]:
        return self.rows("SELECT kind, amount FROM billing_ledgerentry WHERE call_id = %s", call_id)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("outage")
    redis_url = os.environ["REDIS_URL"]
    queue = redis.Redis.from_url(redis_url)
    queue.delete("tg:usage")
    with contextlib.ExitStack() as stack:
        direct = stack.enter_context(servers.scratch_database("_outage"))
        stack.callback(queue.delete, "tg:usage")
        url = urlsplit(direct)
        upstream = stack.enter_context(FakeUpstream())
        proxy = stack.enter_context(CuttableProxy(url.port or 5432, url.hostname))
        through_proxy = url._replace(
            netloc=f"{url.username or 'postgres'}@127.0.0.1:{proxy.port}"
        ).geturl()
        env = servers.production_env(
            through_proxy,
            tmp,
            REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=f"outage-{uuid.uuid4().hex[:8]}",
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "prometheus"),
            DATABASE_POOL_TIMEOUT="2",
        )
        # gunicorn empties its metrics directory when it starts: the others get their own.
        (tmp / "prometheus-cli").mkdir()
        cli = {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus-cli")}
        keys = servers.run_setup(["-c", SEED, upstream.url], {**cli, "DATABASE_URL": direct})
        processes = stack.enter_context(servers.Processes())
        log = tmp / "gateway.log"
        server = processes.gunicorn(env, log, "--workers", "1", "--threads", "16", "--timeout", "0")
        processes.start([sys.executable, "manage.py", "flush_usage", "--batch", "50"], cli, log)
        servers.wait_until_up(server.url, log, seconds=30)
        yield Gateway(server.url, proxy, direct, redis_url, keys, log)


@pytest.fixture
def outage(gateway: Gateway) -> Iterator[CuttableProxy]:
    """The database as the gateway sees it; always restored after the test."""
    yield gateway.proxy
    gateway.proxy.restore()


def test_it_refuses_new_calls_with_503_in_each_endpoints_shape_while_the_database_is_away(
    gateway: Gateway, outage: CuttableProxy
) -> None:
    assert gateway.chat(gateway.keys["known"], "before").status_code == 200  # a key it knows
    outage.cut()

    health = wait_for(lambda: (r := gateway.healthz()).status_code == 503 and r, 5)
    assert health, "healthz did not go 503"
    assert health.json()["checks"]["database"]["status"] == "down"

    started = time.monotonic()
    refused = gateway.chat(gateway.keys["known"], "during-known")
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("database_unavailable", "service_unavailable")
    assert "database" in error["message"].lower()
    assert int(refused.headers["Retry-After"]) > 0

    unknown = gateway.messages(gateway.keys["unknown"], "during-unknown")  # never seen before
    assert unknown.status_code == 503
    body = unknown.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "overloaded_error"
    assert "database" in body["error"]["message"].lower()
    assert int(unknown.headers["Retry-After"]) > 0
    assert time.monotonic() - started < 1  # both refused at once, not after the pool's timeout

    page = gateway.http.get(f"{gateway.url}/dashboard/")
    assert page.status_code == 503  # a page that needs the database says so, not a 500
    assert "cannot reach its database" in page.text
    assert int(page.headers["Retry-After"]) > 0

    outage.restore()
    back = wait_for(lambda: gateway.chat(gateway.keys["unknown"], "after").status_code == 200, 15)
    assert back, "calls did not succeed again once the database was back"
    assert gateway.healthz().status_code == 200
    # Nothing half-written: the refused calls left no record (they were never admitted).
    assert gateway.records("during-known") == gateway.records("during-unknown") == []
    assert wait_for(lambda: len(gateway.records("before")) == 1, 10)


def test_it_refuses_usage_redemption_and_the_csv_export_at_once_while_the_database_is_away(
    gateway: Gateway, outage: CuttableProxy
) -> None:
    key = {"Authorization": f"Bearer {gateway.keys['known']}"}
    csv = gateway.http.get(f"{gateway.url}/api/v1/usage.csv", headers=key)
    assert csv.status_code == 200 and csv.text.startswith("started_at,")
    outage.cut()
    assert wait_for(lambda: gateway.healthz().status_code == 503, 5), "healthz did not go 503"

    started = time.monotonic()
    answers = [
        gateway.http.get(f"{gateway.url}/api/v1/usage", headers=key),
        gateway.http.get(f"{gateway.url}/api/v1/usage.csv", headers=key),
        gateway.http.post(
            f"{gateway.url}/api/v1/billing/redeem", headers=key, json={"code": "ABCD-EFGH"}
        ),
    ]
    assert time.monotonic() - started < 1  # at once, not after the pool's timeout
    for answer in answers:
        assert answer.status_code == 503, (answer.request.url, answer.text[:300])
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) > 0

    outage.restore()
    assert wait_for(
        lambda: gateway.http.get(f"{gateway.url}/api/v1/usage", headers=key).status_code == 200, 15
    )


def test_it_finishes_a_stream_in_flight_and_writes_its_usage_once_the_database_is_back(
    gateway: Gateway, outage: CuttableProxy
) -> None:
    events: list[str] = []
    first_event = threading.Event()

    def stream() -> None:
        with gateway.http.stream(
            "POST",
            f"{gateway.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {gateway.keys['known']}", "X-Request-Id": "flight"},
            json={
                "model": "llama3.2",
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "[[chunk_delay:100]] [[tokens:30]] Hi"}],
            },
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
                    first_event.set()

    client = threading.Thread(target=stream)
    client.start()
    assert first_event.wait(10)
    outage.cut()  # the stream has started; the database goes away under it
    client.join(30)
    assert not client.is_alive()
    assert events[-1] == "[DONE]"
    assert not any('"error"' in event for event in events)
    assert json.loads(events[-2])["usage"]["completion_tokens"] == 30

    # The flusher reads the record and fails to write it; it stays in the queue.
    failed = gateway.log.read_text().count("flush failed")
    assert wait_for(lambda: gateway.log.read_text().count("flush failed") > failed, 15)
    assert gateway.records("flight") == []
    pending = redis.Redis.from_url(gateway.redis_url).xlen("tg:usage")
    assert pending >= 1  # kept in the queue

    outage.restore()
    records = wait_for(lambda: gateway.records("flight"), 20, every=0.25)
    assert records, "the usage record was not written once the database was back"
    ((call_id, status, streamed, incomplete, completion, cost),) = records
    assert (status, streamed, incomplete, completion) == (200, True, False, 30)
    assert cost > 0
    assert [kind for kind, _ in gateway.ledger(call_id)] == ["usage"]
    assert gateway.ledger(call_id)[0][1] == -cost
    time.sleep(1.5)  # another flush round: still exactly one of each
    assert len(gateway.records("flight")) == 1
    assert len(gateway.ledger(call_id)) == 1
