"""The dashboard's Agents page: create, edit, delete and try an agent; errors beside fields."""

from __future__ import annotations

import json

import pytest

from agents.models import Agent

from .conftest import WEATHER_TOOL

FORM = {
    "name": "support",
    "description": "Answers customers",
    "model": "llama3.2",
    "system_prompt": "You are Acme's support agent.",
    "temperature": "0.3",
    "top_p": "",
    "max_tokens": "128",
    "stop": "END\nSTOP",
    "tools": json.dumps([WEATHER_TOOL]),
}


def agents_url(workspace) -> str:
    return f"/dashboard/w/{workspace.slug}/agents/"


@pytest.fixture
def signed_in(client, owner, gateway):
    client.force_login(owner.user)
    return owner.workspace


def test_it_creates_an_agent_from_the_form(client, signed_in) -> None:
    response = client.post(agents_url(signed_in), FORM)

    agent = Agent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{agents_url(signed_in)}{agent.pk}/"
    assert (agent.name, agent.model, agent.system_prompt) == (
        "support",
        "llama3.2",
        "You are Acme's support agent.",
    )
    assert agent.parameters == {"temperature": 0.3, "max_tokens": 128, "stop": ["END", "STOP"]}
    assert agent.tools == [WEATHER_TOOL]
    assert agent.created_by.email == "owner@acme.test"
    listed = client.get(agents_url(signed_in)).content.decode()
    assert "agent:support" in listed and "Answers customers" in listed


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"tools": "[{"}, "tools", "Not valid JSON"),
        (
            {"tools": json.dumps([{"type": "function", "function": {"name": "a b"}}])},
            "tools",
            "tools[0].function.name",
        ),
        (
            {
                "tools": json.dumps(
                    [{"function": {"name": "f", "parameters": {"type": "object", "required": 3}}}]
                )
            },
            "tools",
            "tools[0].function.parameters.required: not a valid JSON Schema",
        ),
        ({"temperature": "5"}, "temperature", "parameters.temperature: must be between 0 and 2"),
        ({"stop": "a\nb\nc\nd\ne"}, "stop", "parameters.stop: at most 4 sequences"),
        ({"name": "has space"}, "name", "name: 1-64 letters"),
        ({"model": "gpt-9"}, "model", "Select a valid choice"),
    ],
)
def test_it_shows_each_fault_beside_its_field_and_stores_nothing(
    client, signed_in, change, field, message
) -> None:
    response = client.post(agents_url(signed_in), {**FORM, **change})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Agent.objects.exists()


def test_it_refuses_a_name_the_workspace_already_uses(client, signed_in) -> None:
    client.post(agents_url(signed_in), FORM)
    response = client.post(agents_url(signed_in), FORM)
    assert response.status_code == 400
    assert "already has an agent named 'support'" in response.context["form"].errors["name"][0]
    assert Agent.objects.count() == 1


def test_it_edits_and_deletes_an_agent(client, signed_in, settings) -> None:
    settings.PUBLIC_BASE_URL = "https://gateway.acme.test"
    client.post(agents_url(signed_in), FORM)
    agent = Agent.objects.get()
    page = f"{agents_url(signed_in)}{agent.pk}/"

    shown = client.get(page)
    assert shown.context["form"].initial["stop"] == "END\nSTOP"
    assert "curl https://gateway.acme.test/v1/chat/completions" in shown.content.decode()
    saved = client.post(page, {**FORM, "system_prompt": "Be very brief.", "tools": ""})
    agent.refresh_from_db()
    assert saved.status_code == 302
    assert (agent.system_prompt, agent.tools) == ("Be very brief.", [])

    refused = client.post(page, {**FORM, "temperature": "-1"})
    agent.refresh_from_db()
    assert refused.status_code == 400
    assert agent.parameters["temperature"] == 0.3

    deleted = client.post(f"{page}delete/")
    assert deleted.status_code == 302
    assert not Agent.objects.exists()


def test_it_lets_a_member_manage_agents(client, member, gateway) -> None:
    client.force_login(member.user)
    assert client.post(agents_url(member.workspace), FORM).status_code == 302
    assert Agent.objects.get().created_by == member.user


def test_it_hides_another_workspaces_agent(client, signed_in, outsider) -> None:
    client.post(agents_url(signed_in), FORM)
    agent = Agent.objects.get()
    client.force_login(outsider.user)

    assert client.get(f"{agents_url(outsider.workspace)}{agent.pk}/").status_code == 404
    assert client.post(f"{agents_url(outsider.workspace)}{agent.pk}/delete/").status_code == 404
    assert client.get(f"{agents_url(signed_in)}{agent.pk}/").status_code == 404
    assert Agent.objects.exists()


def test_it_explains_a_plan_without_agents(client, outsider, gateway) -> None:
    client.force_login(outsider.user)  # the Starter plan: chat only
    response = client.get(agents_url(outsider.workspace))
    assert "does not include agents" in response.content.decode()
    assert client.post(agents_url(outsider.workspace), FORM).status_code == 200
    assert not Agent.objects.exists()


def test_it_offers_the_agent_in_the_playground(client, signed_in) -> None:
    client.post(agents_url(signed_in), FORM)
    agent = Agent.objects.get()
    page = client.get(f"{agents_url(signed_in)}{agent.pk}/").content.decode()
    assert f"/dashboard/w/{signed_in.slug}/playground/?model=agent%3Asupport" in page

    playground = client.get(f"/dashboard/w/{signed_in.slug}/playground/?model=agent:support")
    html = playground.content.decode()
    assert (
        '<option value="agent:support" data-input-price="0.050000" data-output-price="0.100000"'
        " selected>agent:support (llama3.2)</option>"
    ) in html
