"""A workspace on the Local train plan fine-tunes a model of its own Ollama: the job trains from
`local/<name>`, the result is registered on the customer's server, and chats go there."""

from __future__ import annotations

import pytest

from accounts.services import create_workspace
from billing.models import Plan
from finetune import runner
from keys.services import issue_key

from ..conftest import _user
from .conftest import Api


@pytest.fixture
def homelab(gateway, upstream_b, settings) -> Api:
    """A local_agent_train workspace connected to `upstream_b`, its own Ollama."""
    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["127.0.0.1/32"]
    plan = Plan.objects.get(code="local_agent_train")
    api = Api(issue_key(create_workspace("Homelab", _user("o@homelab.test"), plan), "homelab"))
    connected = api.http.put(
        "/api/v1/local/connection", json={"base_url": upstream_b.url}, headers=api._headers()
    )
    assert connected.status_code == 200, connected.content
    return api


def test_it_registers_a_fine_tune_of_a_local_model_on_the_customers_ollama(
    homelab: Api, upstream, upstream_b
) -> None:
    job = homelab.job(baseModel="local/llama3.2")
    homelab.post(f"/jobs/{job['id']}/start")
    runner.run_job(job["id"])
    upstream.clear()
    upstream_b.clear()

    registered = homelab.post(f"/jobs/{job['id']}/register", {"modelName": "homebot"})
    chat = homelab.http.post(
        "/api/v1/chat",
        json={"model": "homebot", "messages": [{"role": "user", "content": "hi"}]},
        headers=homelab._headers(),
    )

    assert registered.status_code == 200, registered.content
    assert chat.status_code == 200, chat.content
    assert [r["path"] for r in upstream_b.requests] == [
        "/api/create", "/api/show", "/v1/chat/completions",
    ]  # fmt: skip
    assert upstream_b.requests[0]["body"]["from"] == "llama3.2:latest"
    assert upstream.requests == []  # the operator's Ollama never saw it


def test_a_resync_does_not_list_the_fine_tunes_as_local_models(homelab: Api, upstream_b) -> None:
    job = homelab.job(baseModel="local/llama3.2")
    homelab.post(f"/jobs/{job['id']}/start")
    runner.run_job(job["id"])
    homelab.post(f"/jobs/{job['id']}/register", {"modelName": "homebot"})

    again = homelab.http.put(
        "/api/v1/local/connection", json={"base_url": upstream_b.url}, headers=homelab._headers()
    )
    models = homelab.http.get("/api/v1/models", headers=homelab._headers()).json()["data"]

    assert again.status_code == 200
    names = [m["id"] for m in models]
    assert "homebot" in names
    assert not [n for n in names if n.startswith("local/tollgate-")]
