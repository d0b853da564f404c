"""GET /metrics: calls through the gateway move the series with the right labels; only an
operator's token or network may scrape; several processes' samples are summed in one scrape."""

# The gateway's fixtures live in tests/proxy/conftest.py; imported here, they are redefined as
# test arguments by design.
# ruff: noqa: F811

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from billing.models import Plan
from proxy.credentials import seal
from proxy.models import Model, UpstreamKind
from tests.proxy.conftest import (  # the gateway's fixtures: a fake upstream and a catalog for it
    _reset_upstreams,  # noqa: F401
    add_upstream,
    deploy,
    gateway,  # noqa: F401
    upstream,  # noqa: F401
)
from tests.proxy.test_redis_outage import redis_switch  # noqa: F401 - a fixture, shared
from tests.servers import ROOT, free_port

CHAT = "/v1/chat/completions"
OUTSIDE = "203.0.113.9"


TOKEN = "operator-metrics-token-1234"


@pytest.fixture(autouse=True)
def _metrics_token(settings) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(client, **headers) -> str:
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {TOKEN}")
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def chat(client, key, *, model: str = "llama3.2", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}
    return client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


# --- the series ---------------------------------------------------------------------------------


def test_it_counts_a_call_with_its_endpoint_model_status_tokens_and_latencies(
    client, gateway, key_a
) -> None:
    before = scrape(client)
    response = chat(client, key_a, model="gpt-4o-mini")  # an alias: counted as the served model
    assert response.status_code == 200
    usage = response.json()["usage"]
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"endpoint": "chat_completions", "model": "llama3.2", "status": "200"}
    assert moved("tollgate_requests_total", **ok) == 1
    assert (
        moved("tollgate_tokens_total", model="llama3.2", direction="in") == usage["prompt_tokens"]
    )
    assert (
        moved("tollgate_tokens_total", model="llama3.2", direction="out")
        == usage["completion_tokens"]
    )
    assert moved("tollgate_upstream_latency_seconds_count", model="llama3.2", stream="false") == 1
    assert moved("tollgate_gateway_latency_seconds_count", endpoint="chat_completions") == 1
    assert moved("tollgate_gateway_latency_seconds_sum", endpoint="chat_completions") > 0
    assert "gpt-4o-mini" not in after  # what a client asks for never becomes a label


def test_it_counts_calls_refused_before_they_start(client, gateway, key_a) -> None:
    before = scrape(client)
    bad_key = client.post(
        CHAT, "{}", content_type="application/json", HTTP_X_API_KEY="sk-tg-not-a-key"
    )
    no_key = client.get("/api/v1/agents")
    after = scrape(client)

    assert (bad_key.status_code, no_key.status_code) == (401, 401)
    refused = {"endpoint": "chat_completions", "model": "none", "status": "401"}
    assert (
        value(after, "tollgate_requests_total", **refused)
        - value(before, "tollgate_requests_total", **refused)
        == 1
    )
    other = {"endpoint": "other", "model": "none", "status": "401"}
    assert (
        value(after, "tollgate_requests_total", **other)
        - value(before, "tollgate_requests_total", **other)
        == 1
    )


def test_it_times_the_first_token_of_a_stream_and_frees_its_in_flight_slot(
    client, gateway, key_a
) -> None:
    before = scrape(client)
    response = chat(client, key_a, stream=True)
    assert response.status_code == 200
    streamed = b"".join(response.streaming_content)
    assert b"[DONE]" in streamed
    after = scrape(client)
    ttft = "tollgate_time_to_first_token_seconds_count"
    assert value(after, ttft, model="llama3.2") - value(before, ttft, model="llama3.2") == 1
    latency = "tollgate_upstream_latency_seconds_count"
    labels = {"model": "llama3.2", "stream": "true"}
    assert value(after, latency, **labels) - value(before, latency, **labels) == 1
    assert value(after, "tollgate_streams_in_flight") == value(before, "tollgate_streams_in_flight")


def test_it_counts_streams_in_flight_until_they_end(client, gateway, key_a) -> None:
    before = value(scrape(client), "tollgate_streams_in_flight")
    response = chat(client, key_a, stream=True)
    chunks = iter(response.streaming_content)
    next(chunks)
    assert value(scrape(client), "tollgate_streams_in_flight") == before + 1
    response.close()  # the client hangs up
    assert value(scrape(client), "tollgate_streams_in_flight") == before


def test_it_counts_credits_charged(client, gateway, key_a, catalog) -> None:
    plan = Plan.objects.get(code="trial_chat")
    subscription = key_a.key.workspace.subscription
    subscription.plan = plan
    subscription.save()
    before = value(scrape(client), "tollgate_credits_charged_total", endpoint="chat_completions")
    response = chat(client, key_a)
    assert response.status_code == 200
    charged = 15000 - int(response["X-Credits-Remaining"]) if "X-Credits-Limit" in response else 0
    after = value(scrape(client), "tollgate_credits_charged_total", endpoint="chat_completions")
    assert charged >= 1
    assert after - before == charged


def test_it_counts_upstream_errors_and_cool_downs(client, gateway, key_a, upstream, settings):
    settings.ROUTER_FAILURES_TO_COOL = 1
    settings.ROUTER_WORKSPACES_TO_COOL = 1  # one workspace's 5xx cool it for everyone
    upstream.configure(status=500)
    before = scrape(client)
    response = chat(client, key_a)
    assert response.status_code == 503
    after = scrape(client)
    error = {"upstream": "fake-ollama", "kind": "status", "status": "500"}
    cool = {"upstream": "fake-ollama", "scope": "deployment"}
    failed = {"endpoint": "chat_completions", "model": "llama3.2", "status": "503"}
    for name, labels in (
        ("tollgate_upstream_errors_total", error),
        ("tollgate_upstream_cooldowns_total", cool),
        ("tollgate_requests_total", failed),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == 1, name


def test_it_counts_a_cooled_upstream_key(client, key_a, catalog, upstream) -> None:
    upstream.configure(require_keys=["key-two"], key_status={"key-one": 429})
    remote = add_upstream(
        upstream, "remote", kind=UpstreamKind.OPENAI, api_keys=[seal("key-one"), seal("key-two")]
    )
    remote.base_url = upstream.url + "/v1"
    remote.save()
    deploy(Model.objects.create(name="remote-model"), remote, "llama3.2")
    before = value(
        scrape(client), "tollgate_upstream_cooldowns_total", upstream="remote", scope="key"
    )
    for _ in range(2):
        assert chat(client, key_a, model="remote-model").status_code == 200
    after = value(
        scrape(client), "tollgate_upstream_cooldowns_total", upstream="remote", scope="key"
    )
    assert after - before == 1


def test_it_counts_limiter_rejections_by_limit(client, gateway, key_a) -> None:
    plan = Plan.objects.get(code="trial_chat")
    plan.rpm = 1
    plan.save()
    subscription = key_a.key.workspace.subscription
    subscription.plan = plan
    subscription.save()
    before = scrape(client)
    assert chat(client, key_a).status_code == 200
    assert chat(client, key_a).status_code == 429
    after = scrape(client)
    assert (
        value(after, "tollgate_limiter_rejections_total", limit="rpm")
        - value(before, "tollgate_limiter_rejections_total", limit="rpm")
        == 1
    )
    refused = {"endpoint": "chat_completions", "model": "llama3.2", "status": "429"}
    assert (
        value(after, "tollgate_requests_total", **refused)
        - value(before, "tollgate_requests_total", **refused)
        == 1
    )


# --- who may scrape -----------------------------------------------------------------------------


@pytest.mark.redis
def test_it_shows_a_worker_serving_without_redis_and_its_return(
    request, client, gateway, key_a, settings
) -> None:
    settings.LIMITS_OUTAGE_MONEY = "database"  # key_a's calls spend monthly credits
    switch = request.getfixturevalue("redis_switch")  # Redis stopped and started, as seen here
    before = scrape(client)
    switch(False)
    assert chat(client, key_a).status_code == 200  # served on the process's own counters
    during = scrape(client)
    switch(True)
    assert chat(client, key_a).status_code == 200
    after = scrape(client)

    assert value(during, "tollgate_limits_degraded") == 1
    assert (
        value(during, "tollgate_limits_outages_total")
        - value(before, "tollgate_limits_outages_total")
        == 1
    )
    assert (
        value(during, "tollgate_degraded_calls_total")
        - value(before, "tollgate_degraded_calls_total")
        == 1
    )
    assert value(after, "tollgate_limits_degraded") == 0
    assert value(after, "tollgate_degraded_calls_total") == value(
        during, "tollgate_degraded_calls_total"
    )


def test_it_refuses_an_outsider_without_revealing_anything(client, db) -> None:
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 403
    assert b"tollgate" not in response.content


def test_it_lets_the_operator_in_with_the_token_from_anywhere(client, db) -> None:
    text = scrape(
        client, REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer operator-metrics-token-1234"
    )
    assert "tollgate_requests_total" in text or "# HELP tollgate_requests" in text


def test_it_refuses_a_wrong_token_even_from_an_allowed_network(client, db, settings) -> None:
    settings.METRICS_ALLOWED_CIDRS = ["127.0.0.1/32"]
    for header in ("Bearer wrong-token", "Basic b3BlcmF0b3I6eA==", "Bearer "):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=header)
        assert response.status_code == 403, header


def test_it_refuses_any_token_when_none_is_configured(client, db, settings) -> None:
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_it_lets_in_the_allowed_networks_only(client, db, settings) -> None:
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 403


def test_it_wants_the_token_even_from_loopback_by_default(client, db) -> None:
    """A reverse proxy on the same host makes every client loopback: no network is trusted
    unless the operator lists it."""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 403


def test_it_labels_private_and_local_models_as_such(
    client, gateway, key_a, upstream, workspace_a
) -> None:
    own = Model.objects.create(name="ft:llama3.2:acme-secret-project", workspace=workspace_a)
    deploy(own, gateway["upstream"], "llama3.2")
    local = Model.objects.create(name="local/acme-internal", workspace=workspace_a)
    deploy(local, gateway["upstream"], "llama3.2")

    for name in (own.name, local.name, "llama3.2"):
        assert chat(client, key_a, model=name).status_code == 200
    text = scrape(client)

    calls = dict(endpoint="chat_completions", status="200")
    assert value(text, "tollgate_requests_total", model="private", **calls) >= 1
    assert value(text, "tollgate_requests_total", model="local", **calls) >= 1
    assert value(text, "tollgate_requests_total", model="llama3.2", **calls) >= 1
    assert "acme" not in text


# --- Celery queue depth -------------------------------------------------------------------------


@pytest.fixture
def redis_broker(tmp_path) -> Iterator[str]:
    """A real Redis server (the broker) on a free port, for this test only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_it_reads_the_celery_queue_depth_from_a_redis_broker(
    client, db, settings, redis_broker
) -> None:
    import redis

    settings.CELERY_BROKER_URL = redis_broker
    broker = redis.Redis.from_url(redis_broker)
    broker.rpush("default", "a", "b", "c")
    broker.rpush("default\x06\x163", "d")  # a message at priority 3
    broker.rpush("training", "e")
    text = scrape(client)
    assert value(text, "tollgate_celery_queue_depth", queue="default") == 4
    assert value(text, "tollgate_celery_queue_depth", queue="training") == 1


def test_it_leaves_out_the_queue_depth_without_a_redis_broker(client, db, settings) -> None:
    settings.CELERY_BROKER_URL = "filesystem://"
    assert "tollgate_celery_queue_depth" not in scrape(client)


def test_it_leaves_out_the_queue_depth_when_the_broker_is_down(client, db, settings) -> None:
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert "tollgate_celery_queue_depth" not in scrape(client)


# --- several worker processes -------------------------------------------------------------------

WRITER = """
import os, sys
import django
django.setup()
from config import metrics
for _ in range(int(sys.argv[1])):
    metrics.REQUESTS.labels("chat_completions", "llama3.2", "200").inc()
metrics.stream_admitted()
print(os.getpid())
"""

READER = """
import sys
import django
django.setup()
from prometheus_client import multiprocess
from config import metrics
for pid in sys.argv[1:]:
    multiprocess.mark_process_dead(int(pid))  # as gunicorn's child_exit hook does
sys.stdout.write(metrics.exposition().decode())
"""


def run_python(code: str, *args: str, directory: Path) -> str:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "CELERY_BROKER_URL": "filesystem://",
    }
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_it_sums_the_samples_of_several_worker_processes(tmp_path) -> None:
    first = run_python(WRITER, "2", directory=tmp_path).strip()
    second = run_python(WRITER, "3", directory=tmp_path).strip()
    ok = {"endpoint": "chat_completions", "model": "llama3.2", "status": "200"}

    text = run_python(READER, directory=tmp_path)
    assert value(text, "tollgate_requests_total", **ok) == 5
    assert value(text, "tollgate_streams_in_flight") == 2  # nobody told it they died

    # Once gunicorn has reaped them: their counters stay, their live gauges go.
    text = run_python(READER, first, second, directory=tmp_path)
    assert value(text, "tollgate_requests_total", **ok) == 5
    assert value(text, "tollgate_streams_in_flight") == 0


def test_it_counts_a_cool_down_for_one_workspace(client, gateway, key_a, upstream, settings):
    settings.ROUTER_FAILURES_TO_COOL = 1
    upstream.configure(status=500)
    before = scrape(client)
    assert chat(client, key_a).status_code == 503
    after = scrape(client)
    for scope, change in (("workspace", 1), ("deployment", 0)):
        labels = {"upstream": "fake-ollama", "scope": scope}
        name = "tollgate_upstream_cooldowns_total"
        assert value(after, name, **labels) - value(before, name, **labels) == change, scope
