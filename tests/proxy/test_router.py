"""Routing against real fake-upstream servers: failover, cool-down, key rotation, exhaustion."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.models import UsageRecord
from proxy.credentials import seal
from proxy.models import Model, UpstreamKind

from .conftest import add_upstream, deploy

CHAT = "/v1/chat/completions"


def chat(client, key, content: str = "hello", *, model: str = "duo", **extra):
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return client.post(
        CHAT, data=json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def sse_events(response) -> list:
    text = b"".join(response.streaming_content).decode()
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


@pytest.fixture
def duo(catalog, upstream, upstream_b):
    """Model `duo`: first choice on `upstream` (priority 0), fallback on `upstream_b`."""
    model = Model.objects.create(name="duo")
    first = deploy(model, add_upstream(upstream, "first"), "llama3.2", priority=0)
    second = deploy(model, add_upstream(upstream_b, "second"), "llama3.2", priority=1)
    return model, first, second


def test_it_prefers_the_best_priority(client, key_a, duo, upstream, upstream_b) -> None:
    response = chat(client, key_a)
    assert response.status_code == 200
    assert len(upstream.requests) == 1
    assert upstream_b.requests == []
    assert UsageRecord.objects.get().deployment_id == duo[1].pk


def test_it_fails_over_on_a_500(client, key_a, duo, upstream, upstream_b) -> None:
    upstream.configure(status=500)
    response = chat(client, key_a)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
    assert len(upstream.requests) == 1 and len(upstream_b.requests) == 1
    assert UsageRecord.objects.get().deployment_id == duo[2].pk


def test_it_fails_over_on_a_timeout(client, key_a, duo, upstream, upstream_b) -> None:
    first = duo[1].upstream
    first.timeout = 0.3
    first.save()
    upstream.configure(latency_ms=1500)
    response = chat(client, key_a)
    assert response.status_code == 200
    assert len(upstream_b.requests) == 1


def test_it_fails_over_when_the_connection_is_refused(client, key_a, duo, upstream_b) -> None:
    first = duo[1].upstream
    first.base_url = "http://127.0.0.1:1"  # nothing listens there
    first.save()
    assert chat(client, key_a).status_code == 200
    assert len(upstream_b.requests) == 1


def test_it_does_not_retry_a_client_error(client, key_a, duo, upstream, upstream_b) -> None:
    response = chat(client, key_a, "[[status:400]] hi")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(upstream.requests) == 1
    assert upstream_b.requests == []


def test_it_answers_503_with_retry_after_when_every_deployment_fails(
    client, key_a, duo, upstream, upstream_b
) -> None:
    upstream.configure(status=500)
    upstream_b.configure(status=503)
    response = chat(client, key_a)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "upstream_unavailable"
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (503, "upstream_unavailable")


def test_it_answers_504_when_the_upstream_times_out(client, key_a, catalog, upstream) -> None:
    slow = add_upstream(upstream, "slow")
    slow.timeout = 0.3
    slow.save()
    deploy(Model.objects.create(name="slowpoke"), slow, "llama3.2")
    upstream.configure(latency_ms=1500)
    response = chat(client, key_a, model="slowpoke")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_it_cools_down_a_failing_deployment_and_recovers(
    client, key_a, duo, upstream, upstream_b, settings
) -> None:
    settings.ROUTER_FAILURES_TO_COOL = 2
    settings.ROUTER_COOLDOWN_SECONDS = 30
    upstream.configure(status=500)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(2):
            assert chat(client, key_a).status_code == 200
        assert len(upstream.requests) == 2
        upstream.configure(status=None)
        assert chat(client, key_a).status_code == 200  # cooled: not even tried
        assert len(upstream.requests) == 2
        assert len(upstream_b.requests) == 3
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert chat(client, key_a).status_code == 200  # recovered
        assert len(upstream.requests) == 3
        assert len(upstream_b.requests) == 3


def test_it_shares_cool_down_between_processes(client, key_a, duo, upstream, settings) -> None:
    """The state lives in the shared cache: a fresh router (another process) skips it too."""
    from proxy.registry import registry
    from proxy.router import Router

    settings.ROUTER_FAILURES_TO_COOL = 1
    upstream.configure(status=500)
    chat(client, key_a)
    model = registry.snapshot().resolve("duo", None)
    order = Router().candidates(model, None, str(key_a.key.workspace_id))
    assert [d.id for d in order] == [duo[2].pk]


def test_it_answers_503_while_every_deployment_cools(
    client, key_a, duo, upstream, upstream_b, settings
) -> None:
    settings.ROUTER_FAILURES_TO_COOL = 1
    upstream.configure(status=500)
    upstream_b.configure(status=500)
    assert chat(client, key_a).status_code == 503
    upstream.clear()
    upstream_b.clear()
    response = chat(client, key_a)
    assert response.status_code == 503
    assert 1 <= int(response["Retry-After"]) <= settings.ROUTER_COOLDOWN_SECONDS
    assert upstream.requests == [] and upstream_b.requests == []


@pytest.fixture
def keyed(catalog, upstream):
    """An openai-kind upstream that demands one of two keys; the gateway holds both."""
    upstream.configure(require_keys=["key-one", "key-two"])
    remote = add_upstream(
        upstream,
        "remote",
        kind=UpstreamKind.OPENAI,
        api_keys=[seal("key-one"), seal("key-two")],
    )
    remote.base_url = upstream.url + "/v1"
    remote.save()
    return deploy(Model.objects.create(name="remote-model"), remote, "llama3.2")


def used_keys(server) -> list[str]:
    return [r["headers"].get("authorization", "") for r in server.requests]


def test_it_rotates_upstream_keys(client, key_a, keyed, upstream) -> None:
    for _ in range(4):
        assert chat(client, key_a, model="remote-model").status_code == 200
    assert sorted(used_keys(upstream)) == ["Bearer key-one"] * 2 + ["Bearer key-two"] * 2


def test_it_cools_a_key_that_answers_429_alone(client, key_a, keyed, upstream) -> None:
    upstream.configure(key_status={"key-one": 429})
    with time_machine.travel(timezone.now(), tick=False):  # the key's cool-down cannot run out
        for _ in range(4):
            assert chat(client, key_a, model="remote-model").status_code == 200
    keys = used_keys(upstream)
    assert keys.count("Bearer key-one") == 1  # tried once, then left to cool
    assert keys.count("Bearer key-two") == 4


def test_it_never_leaks_an_upstream_auth_error(client, key_a, keyed, upstream) -> None:
    upstream.configure(require_keys=["something-else"])
    response = chat(client, key_a, model="remote-model")
    assert response.status_code == 503
    text = response.content.decode()
    assert "key-one" not in text and "key-two" not in text
    assert "something-else" not in text


def test_it_fails_a_stream_over_before_its_first_byte(
    client, key_a, duo, upstream, upstream_b
) -> None:
    upstream.configure(status=502)
    response = chat(client, key_a, stream=True)
    assert response.status_code == 200
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert len(upstream_b.requests) == 1


def test_it_never_fails_over_after_the_first_streamed_byte(
    client, key_a, duo, upstream, upstream_b
) -> None:
    response = chat(client, key_a, "[[drop_after:3]] [[tokens:20]] go", stream=True)
    assert response.status_code == 200
    events = sse_events(response)
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_error"
    assert len([e for e in events[:-1] if json.loads(e).get("choices")]) == 3
    assert upstream_b.requests == []
    record = UsageRecord.objects.get()
    assert record.incomplete and record.status == 502


@pytest.mark.django_db(transaction=True)
def test_it_settles_what_was_delivered_when_the_client_disconnects(live_server, upstream) -> None:
    import time

    import requests

    from accounts.models import User
    from accounts.services import create_workspace
    from billing.catalog import DEFAULT_CATALOG, apply_file
    from billing.models import Plan
    from keys.services import issue_key

    apply_file(DEFAULT_CATALOG)
    workspace = create_workspace(
        "Live", User.objects.create_user("live@x.test"), Plan.objects.get(code="paid_chat")
    )
    key = issue_key(workspace, "live")
    deploy(Model.objects.create(name="long"), add_upstream(upstream, "live-up"), "llama3.2")
    body = {
        "model": "long",
        "messages": [{"role": "user", "content": "[[tokens:400]] [[chunk_delay:20]] tell"}],
        "stream": True,
    }
    with requests.post(
        live_server.url + CHAT,
        json=body,
        headers={"X-API-Key": key.secret},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        seen = 0
        for line in response.iter_lines():
            if line.startswith(b"data: {"):
                seen += 1
            if seen == 3:
                break
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code, record.incomplete) == (
        499,
        "client_disconnected",
        True,
    )
    assert record.tokens_estimated
    assert record.prompt_tokens > 0
    assert 1 <= record.completion_tokens < 400  # what was delivered, not what was planned
    while not any(r.get("disconnected") for r in upstream.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(r.get("disconnected") for r in upstream.requests), [
        {k: r.get(k) for k in ("disconnected", "completed", "events_sent", "dropped")}
        for r in upstream.requests
    ]  # the upstream call was closed


def test_it_fails_over_when_a_deployment_lacks_the_model(
    client, key_a, duo, upstream, upstream_b
) -> None:
    first = duo[1]
    first.upstream_model = "not-pulled-here"
    first.save()
    response = chat(client, key_a)
    assert response.status_code == 200
    assert "not-pulled-here" not in response.content.decode()
    assert len(upstream_b.requests) == 1
