"""No shared breaker one tenant can trip: failures an answer to a workspace's own requests
shows (5xx) cool a deployment for that workspace alone until several workspaces see them; a
deployment that cannot be reached cools down for everyone."""

from __future__ import annotations

import json
import socket

import pytest

from proxy.models import Model

from .conftest import add_upstream, deploy

POISON = "[[status:500]] content this upstream chokes on"


def chat(client, key, content: str = "hello"):
    body = {"model": "shared", "messages": [{"role": "user", "content": content}]}
    return client.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json",
        HTTP_X_API_KEY=key.secret,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _breaker(settings) -> None:
    settings.ROUTER_FAILURES_TO_COOL = 3
    settings.ROUTER_WORKSPACES_TO_COOL = 2
    settings.ROUTER_COOLDOWN_SECONDS = 30


@pytest.fixture
def shared(catalog, upstream):
    """One deployment that every workspace's calls to `shared` go to."""
    return deploy(Model.objects.create(name="shared"), add_upstream(upstream, "only"), "llama3.2")


def test_it_keeps_serving_others_when_one_workspace_poisons_a_model(
    client, key_a, key_b, shared, upstream
):
    for _ in range(5):
        assert chat(client, key_b, POISON).status_code == 503
    assert len(upstream.requests) == 3  # then cooled for workspace B alone: not even tried
    refused = chat(client, key_b)
    assert refused.status_code == 503 and "cooling down" in refused.json()["error"]["message"]
    for _ in range(5):
        assert chat(client, key_a).status_code == 200
    assert len(upstream.requests) == 8


def test_it_cools_down_for_everyone_when_several_workspaces_fail(
    client, key_a, key_b, shared, upstream, owner
):
    from accounts.services import create_workspace
    from billing.models import Plan
    from keys.services import issue_key

    from ..conftest import _user

    third = create_workspace("Charlie", _user("c@charlie.test"), Plan.objects.get(code="paid_chat"))
    key_c = issue_key(third, "c")
    upstream.configure(status=500)  # the upstream fails everyone's calls
    assert chat(client, key_a).status_code == 503
    assert chat(client, key_b).status_code == 503
    assert chat(client, key_b).status_code == 503
    upstream.configure(status=None)
    answered = len(upstream.requests)
    assert chat(client, key_c).status_code == 503  # a workspace that never failed: cooled too
    assert len(upstream.requests) == answered


def test_it_still_cools_a_dead_upstream_down_for_everyone(client, key_a, key_b, catalog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from proxy.models import Upstream

    dead = Upstream.objects.create(
        name="dead", kind="ollama", base_url=f"http://127.0.0.1:{port}", timeout=2
    )
    deploy(Model.objects.create(name="shared"), dead, "llama3.2")
    for _ in range(3):
        assert chat(client, key_b).status_code == 503
    refused = chat(client, key_a)  # workspace A never called it: cooled for it too
    assert refused.status_code == 503
    assert "cooling down" in refused.json()["error"]["message"]


def test_it_counts_one_workspace_once_after_its_own_cool_down(
    client, key_a, key_b, shared, upstream
):
    """B poisons the model, waits out its own cool-down and poisons it again: still one failing
    workspace, so A is served throughout."""
    import time_machine

    with time_machine.travel(0, tick=False) as clock:
        for _ in range(3):
            assert chat(client, key_b, POISON).status_code == 503
        clock.shift(31)  # B's cool-down is over, the failure window (60 s) is not
        assert chat(client, key_b, POISON).status_code == 503
        for _ in range(3):
            assert chat(client, key_a).status_code == 200
