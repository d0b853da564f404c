"""The dashboard's models page: what the workspace may call on its plan (as GET /v1/models
lists it), with prices and context windows; private models only for their own workspace."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import Plan, Subscription, SubscriptionStatus
from proxy.models import Deployment, Model, Upstream, UpstreamKind
from proxy.registry import registry


def models_url(persona) -> str:
    return reverse("dashboard:models", args=[persona.workspace.slug])


def listed(response, section: str) -> list[str]:
    return [row.model.name for row in response.context[section]]


def private_model(workspace, name: str, upstream: Upstream, **fields) -> Model:
    model = Model.objects.create(workspace=workspace, name=name, **fields)
    Deployment.objects.create(model=model, upstream=upstream, upstream_model=name)
    registry.invalidate()
    return model


@pytest.fixture
def fine_tune(owner) -> Model:
    """A fine-tune of workspace A, served by the operator's Ollama."""
    return private_model(
        owner.workspace,
        "acme-support-bot",
        Upstream.objects.get(workspace=None, name="ollama"),
        context_window=8192,
        input_price_per_mtok="0.07",
        output_price_per_mtok="0.125",
    )


@pytest.fixture
def local_model(owner) -> Model:
    """A model of workspace A's own Ollama."""
    own = Upstream.objects.create(
        workspace=owner.workspace,
        name="own-ollama",
        kind=UpstreamKind.OLLAMA,
        base_url="http://203.0.113.7:11434",
    )
    return private_model(owner.workspace, "local/mistral", own)


def on_plan(persona, code: str) -> None:
    Subscription.objects.filter(workspace=persona.workspace).update(
        plan=Plan.objects.get(code=code)
    )


@pytest.mark.parametrize("persona", ["owner", "member"])
def test_it_renders_for_owner_and_member(client, request, persona) -> None:
    who = request.getfixturevalue(persona)
    client.force_login(who.user)

    response = client.get(models_url(who))

    assert response.status_code == 200
    assert listed(response, "public_models") == [
        "glm-4.5-air",
        "llama3.2",
        "nomic-embed-text",
        "qwen2.5:7b",
    ]
    html = response.content.decode()
    assert 'aria-current="page">Models<' in html
    assert "131,072" in html  # context window
    assert "$0.20" in html and "$1.10" in html  # glm-4.5-air's prices per 1M tokens
    assert "claude-sonnet-4*" in html  # an alias
    assert "reasoning" in html  # a capability


def test_it_is_a_404_for_an_outsider(client, owner, outsider) -> None:
    client.force_login(outsider.user)
    assert client.get(models_url(owner)).status_code == 404


def test_it_lists_a_fine_tune_only_for_its_workspace(client, owner, outsider, fine_tune) -> None:
    client.force_login(owner.user)
    mine = client.get(models_url(owner))
    assert listed(mine, "own_models") == ["acme-support-bot"]
    assert "acme-support-bot" not in listed(mine, "public_models")
    html = mine.content.decode()
    assert "fine-tune" in html and "$0.125" in html and "$0.07" in html

    client.force_login(outsider.user)
    theirs = client.get(models_url(outsider))
    assert listed(theirs, "own_models") == []
    assert "acme-support-bot" not in theirs.content.decode()


def test_it_applies_the_plans_patterns_to_public_models_only(
    client, owner, fine_tune, local_model
) -> None:
    on_plan(owner, "local_agent_train")  # models: ["local/*"], with local_model_access
    client.force_login(owner.user)

    response = client.get(models_url(owner))

    assert listed(response, "public_models") == []
    assert listed(response, "own_models") == ["acme-support-bot", "local/mistral"]
    html = response.content.decode()
    assert "your Ollama" in html and "local_model_access" in html
    assert "<code>local/*</code>" in html  # the plan's pattern is named


def test_it_hides_own_server_models_without_local_access(client, owner, local_model) -> None:
    client.force_login(owner.user)  # chat_agent: no local_model_access, so no key could call it
    response = client.get(models_url(owner))
    assert "local/mistral" not in listed(response, "own_models")


def test_it_warns_when_the_subscription_is_not_active(client, owner) -> None:
    Subscription.objects.filter(workspace=owner.workspace).update(
        status=SubscriptionStatus.PAST_DUE
    )
    client.force_login(owner.user)
    response = client.get(models_url(owner))
    assert b"past due" in response.content and b"refuses its calls" in response.content


def test_it_lists_what_get_v1_models_lists_for_a_plan_wide_key(client, owner, key_a, fine_tune):
    api = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {key_a.secret}").json()
    client.force_login(owner.user)
    page = client.get(models_url(owner))

    shown = listed(page, "own_models") + listed(page, "public_models")
    assert sorted(shown) == sorted(m["id"] for m in api["data"])
