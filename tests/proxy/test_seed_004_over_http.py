"""Seed 004's samples, as written there: `requests` against a real server, X-API-Key header."""

from __future__ import annotations

import json

import pytest
import requests

from accounts.models import User
from accounts.services import create_workspace
from billing.catalog import DEFAULT_CATALOG, apply_file
from billing.models import Plan
from keys.services import issue_key
from proxy.models import Model

from .conftest import add_upstream, deploy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(live_server, upstream):
    apply_file(DEFAULT_CATALOG)
    Model.objects.filter(workspace=None).delete()
    deploy(Model.objects.create(name="llama3.2"), add_upstream(upstream, "seed-ollama"), "llama3.2")
    owner = User.objects.create_user("seed@x.test")
    workspace = create_workspace("Seed", owner, Plan.objects.get(code="paid_chat"))
    return live_server.url, issue_key(workspace, "seed").secret


def test_it_answers_the_chat_sample(live) -> None:
    base, key = live
    r = requests.post(
        f"{base}/api/v1/chat",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=30,
    )
    r.raise_for_status()
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"]
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_it_streams_the_chat_stream_sample(live) -> None:
    base, key = live
    with requests.post(
        f"{base}/api/v1/chat/stream",
        headers={"Content-Type": "application/json", "X-API-Key": key},
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "Hello"}]},
        stream=True,
        timeout=30,
    ) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == b"data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_it_answers_the_generate_sample(live) -> None:
    base, key = live
    r = requests.post(
        f"{base}/api/v1/generate",
        headers={"Content-Type": "application/json", "X-API-Key": key},
        json={"model": "llama3.2", "prompt": "Summarize: …"},
        timeout=30,
    )
    assert r.status_code == 200
    assert r.json()["response"] and r.json()["usage"]["completion_tokens"] > 0


def test_it_lists_models_and_health(live) -> None:
    base, key = live
    models = requests.get(f"{base}/api/v1/models", headers={"X-API-Key": key}, timeout=30).json()
    assert [m["id"] for m in models["data"]] == ["llama3.2"]
    assert "context_window" in models["data"][0]
    health = requests.get(f"{base}/api/v1/health", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
