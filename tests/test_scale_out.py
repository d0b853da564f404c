"""Scale-out: two gunicorn servers (two "hosts") behind no balancer but the test itself, sharing one
PostgreSQL database and one Redis, with the usage flusher beside them. Calls alternate or race
between the servers, and every limit holds across both: the per-minute limit, the monthly
credits, the calls in flight; a key revoked through one host's dashboard is refused by the other
within the documented 5 s; the usage records of both land in PostgreSQL.

The servers run with production settings (DEBUG=0, a real SECRET_KEY and API_KEY_PEPPER, the
repository's gunicorn.conf.py, gthread) and are addressed as a TLS-terminating load balancer
would: `X-Forwarded-Proto: https`. The database is made for the test (`<DATABASE_URL's
name>_scale_out`, dropped at the end) and migrated and filled by the management commands
(tests/scale_out_setup.py); Redis is REDIS_URL's database, emptied before and after.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import redis
import requests

from bench.fake_upstream import FakeUpstream
from tests import servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PASSWORD = "scale-out-owner-password-42"
RPM = 12
CREDITS = 10
CONCURRENCY = 3
REVOCATION_SECONDS = 5.0  # API_KEY_LOCAL_CACHE_SECONDS, as the README documents it

CATALOG = """
settings:
  default_plan: so_open
  endpoint_credits: {{chat_completions: 1}}
plans:
  - {{code: so_open, name: Open, scopes: [chat]}}
  - {{code: so_rpm, name: RPM, scopes: [chat], rpm: {rpm}}}
  - {{code: so_credits, name: Credits, scopes: [chat], monthly_credits: {credits}}}
  - {{code: so_concurrency, name: Concurrency, scopes: [chat], max_concurrency: {concurrency}}}
"""
WORKSPACES = {"open": "so_open", "rpm": "so_rpm", "credits": "so_credits"}
WORKSPACES |= {"concurrency": "so_concurrency", "revoked": "so_open", "split": "so_credits"}
CUT_OFF = 2  # the third server: same database, but a Redis address where nothing listens
DEAD_REDIS = "redis://127.0.0.1:1/0"


# --- the cluster -------------------------------------------------------------------------------


@dataclass
class Answer:
    server: int
    status: int
    code: str
    message: str
    request_id: str
    headers: dict[str, str]
    started: float


@dataclass
class Cluster:
    servers: list[str]
    workspaces: dict[str, dict[str, str]]
    database: str  # URL of the shared database
    upstream: FakeUpstream
    answers: list[Answer] = field(default_factory=list)

    def chat(self, server: int, who: str, prompt: str = "Hello from the test.") -> Answer:
        """One non-streamed chat on server 0 or 1, on a connection of its own (so that
        consecutive calls may reach different gunicorn workers)."""
        started = time.monotonic()
        response = requests.post(
            self.servers[server] + "/v1/chat/completions",
            json={"model": "llama3.2", "messages": [{"role": "user", "content": prompt}]},
            headers={
                "Authorization": f"Bearer {self.workspaces[who]['key']}",
                "X-Forwarded-Proto": "https",
                "Connection": "close",
            },
            timeout=30,
        )
        error = (response.json().get("error") or {}) if response.status_code >= 400 else {}
        return Answer(
            server,
            response.status_code,
            error.get("code") or "",
            error.get("message") or "",
            response.headers.get("X-Request-Id", ""),
            dict(response.headers),
            started,
        )

    def race(self, calls: list[tuple[int, str, str]]) -> list[Answer]:
        """All calls at once from their own threads, released together."""
        barrier = threading.Barrier(len(calls))

        def one(call: tuple[int, str, str]) -> Answer:
            barrier.wait(timeout=30)
            return self.chat(*call)

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(one, calls))

    def quota(self, server: int, who: str) -> dict[str, Any]:
        response = requests.get(
            self.servers[server] + "/api/v1/quota",
            headers={
                "Authorization": f"Bearer {self.workspaces[who]['key']}",
                "X-Forwarded-Proto": "https",
            },
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()["limits"]

    def usage_records(self, who: str) -> list[tuple[str, int, int]]:
        """(request_id, status, credits) of the workspace's records in PostgreSQL."""
        with psycopg.connect(self.database) as connection:
            return connection.execute(
                "SELECT request_id, status, credits FROM billing_usagerecord "
                "WHERE workspace_id::text = %s",
                (self.workspaces[who]["workspace"],),
            ).fetchall()

    def wait_for_usage(self, who: str, count: int, seconds: float = 20) -> list:
        """The workspace's records once `count` have been flushed (bounded wait)."""
        servers.wait_for(lambda: len(self.usage_records(who)) >= count, seconds, every=0.2)
        return self.usage_records(who)


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Replaces the suite's cache reset: flushing Redis between these tests would empty the
    servers' shared state (the usage stream among it) under them."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scale_out")
    redis_url = os.environ["REDIS_URL"]
    shared_redis = redis.Redis.from_url(redis_url)
    shared_redis.flushdb()
    with contextlib.ExitStack() as stack:
        stack.callback(shared_redis.flushdb)
        upstream = stack.enter_context(FakeUpstream())
        database_url = stack.enter_context(servers.scratch_database("_scale_out"))
        catalog = tmp / "catalog.yaml"
        catalog.write_text(
            CATALOG.format(rpm=RPM, credits=CREDITS, concurrency=CONCURRENCY)
            + servers.fake_llama_catalog(upstream.url)
        )
        secret, pepper = secrets.token_urlsafe(64), secrets.token_urlsafe(48)
        hosts = [
            servers.production_env(
                database_url,
                tmp / f"host{index}",
                tls_terminated=True,
                PUBLIC_BASE_URL="https://127.0.0.1",
                REDIS_URL=redis_url,
                SECRET_KEY=secret,  # the same on every host
                API_KEY_PEPPER=pepper,
            )
            for index in range(2)
        ]
        hosts.append(
            servers.production_env(
                database_url,
                tmp / "host2",
                tls_terminated=True,
                PUBLIC_BASE_URL="https://127.0.0.1",
                REDIS_URL=DEAD_REDIS,
                SECRET_KEY=secret,
                API_KEY_PEPPER=pepper,
            )
        )
        workspaces = servers.run_setup(
            ["-m", "tests.scale_out_setup", str(catalog), PASSWORD]
            + [f"{name}={plan}" for name, plan in WORKSPACES.items()],
            hosts[0],
        )

        processes = stack.enter_context(servers.Processes())
        options = ["--config", str(servers.ROOT / "gunicorn.conf.py"), "--log-level", "warning"]
        options += ["--workers", "2", "--threads", "8"]
        gunicorns = [
            processes.gunicorn(env, tmp / f"gunicorn{index}.log", *options)
            for index, env in enumerate(hosts)
        ]
        flusher_log = tmp / "flush_usage.log"
        processes.start([sys.executable, "manage.py", "flush_usage"], hosts[0], flusher_log)
        for server in gunicorns[:CUT_OFF]:
            servers.wait_until_up(server.url, server.log)
        cut_off = gunicorns[CUT_OFF]  # its /healthz says 503 (Redis down): wait for any answer
        assert servers.wait_for(lambda: answers(cut_off.url), 40, every=0.2), cut_off.log

        cluster = Cluster([server.url for server in gunicorns], workspaces, database_url, upstream)
        # Warm both workers of each server (imports, catalog snapshot, key cache, pools), so
        # that the races below are decided by the limits, not by a cold worker.
        warm = cluster.race([(i % 2, "open", "Warm up.") for i in range(16)])
        assert [a.status for a in warm] == [200] * 16, warm
        yield cluster


def answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(url + "/healthz", timeout=10).status_code in (200, 503)
    return False


def by_status(answers: list[Answer]) -> Counter:
    return Counter(a.status for a in answers)


# --- the tests ---------------------------------------------------------------------------------


def test_it_admits_exactly_the_per_minute_limit_across_both_servers(cluster: Cluster) -> None:
    # Two on each server in turn: both answer, and both count on the same limit.
    first = [cluster.chat(i % 2, "rpm") for i in range(4)]
    assert [a.status for a in first] == [200] * 4
    assert [a.headers["X-RateLimit-Remaining"] for a in first] == [
        str(RPM - n) for n in (1, 2, 3, 4)
    ]

    # Then 26 more race on both: exactly the rest of the limit is admitted, in total.
    raced = cluster.race([(i % 2, "rpm", "Race.") for i in range(26)])
    assert by_status(raced) == {200: RPM - 4, 429: 26 - (RPM - 4)}
    refused = [a for a in raced if a.status == 429]
    assert {a.server for a in refused} == {0, 1}
    assert all(a.code == "rate_limit_exceeded" for a in refused)
    assert all("requests per minute" in a.message for a in refused)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)

    # Every call of both servers, refused ones included, is a usage record in PostgreSQL.
    answers = first + raced
    records = cluster.wait_for_usage("rpm", len(answers))
    assert sorted(r[0] for r in records) == sorted(a.request_id for a in answers)
    assert Counter(r[1] for r in records) == {200: RPM, 429: 30 - RPM}


def test_it_spends_the_monthly_credits_exactly_across_both_servers(cluster: Cluster) -> None:
    first = [cluster.chat(i % 2, "credits") for i in range(2)]
    assert [a.headers["X-Credits-Remaining"] for a in first] == [str(CREDITS - 1), str(CREDITS - 2)]

    raced = cluster.race([(i % 2, "credits", "Spend.") for i in range(20)])
    assert by_status(raced) == {200: CREDITS - 2, 429: 20 - (CREDITS - 2)}
    refused = [a for a in raced if a.status == 429]
    assert all("monthly credits" in a.message for a in refused)

    # Both hosts report the same spent allowance, and PostgreSQL has each credit once.
    for server in (0, 1):
        credits = cluster.quota(server, "credits")["monthly_credits"]
        assert (credits["limit"], credits["used"], credits["remaining"]) == (CREDITS, CREDITS, 0)
    records = cluster.wait_for_usage("credits", 22)
    assert len(records) == 22
    assert sum(r[2] for r in records) == CREDITS


def test_it_holds_the_concurrency_limit_across_both_servers(cluster: Cluster) -> None:
    marker = f"concurrency-{secrets.token_hex(4)}"
    # Twelve calls at once, six per server, each held by the upstream for two seconds.
    raced = cluster.race([(i % 2, "concurrency", f"{marker} [[latency:2000]]") for i in range(12)])
    assert by_status(raced) == {200: CONCURRENCY, 429: 12 - CONCURRENCY}
    refused = [a for a in raced if a.status == 429]
    assert {a.server for a in refused} == {0, 1}
    assert all("concurrent requests" in a.message for a in refused)
    reached = [r for r in cluster.upstream.requests if marker in str(r)]
    assert len(reached) == CONCURRENCY

    # The slots were given back, whichever server took them.
    assert [cluster.chat(s, "concurrency").status for s in (0, 1, 0, 1)] == [200] * 4


def test_it_refuses_a_key_revoked_through_one_server_on_the_other_within_5_s(
    cluster: Cluster,
) -> None:
    workspace = cluster.workspaces["revoked"]
    # The key works on both servers, and every worker of server 1 holds it in its own cache.
    warm = cluster.race([(1, "revoked", "Cache me.") for _ in range(8)])
    assert [a.status for a in warm] == [200] * 8
    assert cluster.chat(0, "revoked").status == 200

    # The owner signs in on server 1 and revokes the key on server 0 (sessions are shared).
    browser = Browser(cluster.servers)
    browser.log_in(1, workspace["owner"], PASSWORD)
    revoke = f"/dashboard/w/{workspace['slug']}/keys/{workspace['key_id']}/revoke/"
    response = browser.post(0, revoke, {})
    assert response.status_code == 302, response.text[:500]
    revoked_at = time.monotonic()

    # Both servers, hammered on fresh connections: nothing is admitted 5 s after the revocation.
    answers: list[Answer] = []
    while time.monotonic() < revoked_at + REVOCATION_SECONDS + 1.5:
        answers += [cluster.chat(1, "revoked"), cluster.chat(0, "revoked")]
    late = [a for a in answers if a.started >= revoked_at + REVOCATION_SECONDS]
    assert late
    assert {(a.status, a.code) for a in late} == {(401, "invalid_api_key")}
    assert all("revoked" in a.message for a in late)
    admitted = [a.started - revoked_at for a in answers if a.status == 200]
    print(f"last call admitted {max(admitted, default=0):.2f} s after the revocation")


# --- a browser, as far as the dashboard needs one ----------------------------------------------


class Browser:
    """Session and CSRF cookies by hand: they are Secure, and the servers are reached over
    plain HTTP behind a pretend TLS-terminating balancer (`X-Forwarded-Proto: https`)."""

    def __init__(self, servers: list[str]) -> None:
        self.servers = servers
        self.cookies: dict[str, str] = {}

    def _send(self, method: Callable[..., requests.Response], server: int, path: str, **kw: Any):
        origin = "https://" + self.servers[server].split("://", 1)[1]
        headers = {
            "X-Forwarded-Proto": "https",
            "Origin": origin,
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        response = method(
            self.servers[server] + path, headers=headers, allow_redirects=False, timeout=10, **kw
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def get(self, server: int, path: str) -> requests.Response:
        return self._send(requests.get, server, path)

    def post(self, server: int, path: str, data: dict[str, str]) -> requests.Response:
        token = {"csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
        return self._send(requests.post, server, path, data={**data, **token})

    def log_in(self, server: int, email: str, password: str) -> None:
        assert self.get(server, "/accounts/login/").status_code == 200
        response = self.post(server, "/accounts/login/", {"email": email, "password": password})
        assert response.status_code == 302, response.text[:500]
        assert "sessionid" in self.cookies


def test_it_never_spends_credits_on_a_server_cut_off_from_redis(cluster: Cluster) -> None:
    """Split-brain: server 2 cannot reach Redis while 0 and 1 can. It refuses what spends
    monthly credits (503, Retry-After) instead of spending them a second time from PostgreSQL,
    and still serves what spends nothing; servers 0 and 1 spend the allowance exactly."""
    cut = [cluster.chat(CUT_OFF, "split") for _ in range(3)]
    assert [a.status for a in cut] == [503] * 3
    assert all(a.code == "limits_unavailable" for a in cut)
    assert all(int(a.headers["Retry-After"]) >= 1 for a in cut)
    assert cluster.chat(CUT_OFF, "open", "Free call.").status == 200

    connected = [cluster.chat(i % 2, "split") for i in range(CREDITS + 2)]
    assert by_status(connected) == {200: CREDITS, 429: 2}
    assert cluster.chat(CUT_OFF, "split").status == 503  # still never from PostgreSQL
    records = cluster.wait_for_usage("split", 3 + CREDITS + 2 + 1)
    assert sum(r[2] for r in records) == CREDITS
