"""GET/POST /api/v1/agents and GET/PATCH/DELETE /api/v1/agents/{id} (scope chat_agent)."""

from __future__ import annotations

import json

import pytest

from accounts.services import create_workspace
from agents.models import Agent
from billing.models import Plan
from keys.services import issue_key
from proxy.models import Model
from proxy.registry import registry

from ..conftest import _user
from ..proxy.conftest import deploy
from .conftest import SUPPORT, WEATHER_TOOL, Agents


def test_it_creates_lists_reads_updates_and_deletes_an_agent(agents: Agents, owner) -> None:
    created = agents.create()
    assert created["name"] == "support"
    assert created["reference"] == "agent:support"
    assert created["model"] == "llama3.2"
    assert created["systemPrompt"] == SUPPORT["systemPrompt"]
    assert created["parameters"] == {"temperature": 0.2, "max_tokens": 64, "stop": ["END"]}
    assert created["tools"] == [WEATHER_TOOL]
    assert created["createdAt"].endswith("Z")

    listed = agents.request("GET").json()
    assert [a["id"] for a in listed["data"]] == [created["id"]]
    assert listed["has_more"] is False
    assert agents.request("GET", f"/{created['id']}").json() == created

    patched = agents.request(
        "PATCH", f"/{created['id']}", {"description": "Tier 1", "parameters": {"top_p": 0.9}}
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["description"] == "Tier 1"
    assert patched.json()["parameters"] == {"top_p": 0.9}
    assert patched.json()["systemPrompt"] == SUPPORT["systemPrompt"]  # untouched
    assert patched.json()["updatedAt"] >= created["updatedAt"]

    assert agents.request("DELETE", f"/{created['id']}").status_code == 204
    assert agents.request("GET", f"/{created['id']}").status_code == 404
    assert not Agent.objects.exists()


def test_it_keeps_names_unique_in_a_workspace_only(agents: Agents, gateway) -> None:
    first = agents.create()
    again = agents.request("POST", "", SUPPORT)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "agent_name_taken"
    other = agents.create(name="sales")
    renamed = agents.request("PATCH", f"/{other['id']}", {"name": "support"})
    assert renamed.status_code == 409
    assert agents.request("GET", f"/{other['id']}").json()["name"] == "sales"

    rival = create_workspace("Rival", _user("r@rival.test"), Plan.objects.get(code="chat_agent"))
    assert Agents(issue_key(rival, "rk")).create()["id"] != first["id"]


def test_it_answers_an_unknown_model_with_404_and_one_outside_the_plan_with_403(
    agents: Agents, owner, gateway
) -> None:
    unknown = agents.request("POST", "", {**SUPPORT, "model": "gpt-9"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert unknown.json()["error"]["param"] == "model"

    narrow = Agents(issue_key(owner.workspace, "narrow", model_patterns=["mistral*"]))
    outside = narrow.request("POST", "", SUPPORT)
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "model_not_allowed"

    embedding = agents.request("POST", "", {**SUPPORT, "model": "nomic-embed-text"})
    assert embedding.status_code == 400
    assert "embedding model" in embedding.json()["error"]["message"]
    assert not Agent.objects.exists()


def test_it_accepts_the_workspaces_own_fine_tuned_model(agents: Agents, owner, gateway) -> None:
    tuned = Model.objects.create(name="acme-support", workspace=owner.workspace)
    deploy(tuned, gateway["upstream"], "llama3.2")
    assert agents.create(model="acme-support")["model"] == "acme-support"

    rival = create_workspace("Rival", _user("r@rival.test"), Plan.objects.get(code="chat_agent"))
    registry.invalidate()
    refused = Agents(issue_key(rival, "rk")).request(
        "POST", "", {**SUPPORT, "model": "acme-support"}
    )
    assert refused.status_code == 404


TOOL = WEATHER_TOOL["function"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": ["get_weather"]}, "tools[0]"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        (
            {"tools": [{"type": "function", "function": {"description": "x"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [{"function": {**TOOL, "name": "get weather"}}]}, "tools[0].function.name"),
        ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools[1].function.name"),
        ({"tools": [{"function": {**TOOL, "parameters": []}}]}, "tools[0].function.parameters"),
        (
            {"tools": [{"function": {**TOOL, "parameters": {"type": "string"}}}]},
            "tools[0].function.parameters.type",
        ),
        (
            {
                "tools": [
                    {
                        "function": {
                            **TOOL,
                            "parameters": {
                                "type": "object",
                                "properties": {"city": {"type": "strin"}},
                            },
                        }
                    }
                ]
            },
            "tools[0].function.parameters.properties.city.type",
        ),
        ({"tools": [{"function": {**TOOL, "description": 7}}]}, "tools[0].function.description"),
        ({"parameters": {"temperature": 3}}, "parameters.temperature"),
        ({"parameters": {"max_tokens": "many"}}, "parameters.max_tokens"),
        ({"parameters": {"stop": ["a", "b", "c", "d", "e"]}}, "parameters.stop"),
        ({"parameters": {"stream": True}}, "parameters.stream"),
        ({"parameters": "hot"}, "parameters"),
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"model": 7}, "model"),
        ({"model": "agent:other"}, "model"),
        ({"systemPrompt": ["a"]}, "systemPrompt"),
        ({"description": "d" * 1001}, "description"),
        ({"prompt": "misspelt field"}, "prompt"),
    ],
)
def test_it_refuses_a_bad_field_naming_it_and_stores_nothing(
    agents: Agents, fields: dict, param: str
) -> None:
    response = agents.request("POST", "", {**SUPPORT, **fields})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"].startswith(f"{param}: ")
    assert not Agent.objects.exists()


def test_it_refuses_a_bad_update_and_keeps_the_agent(agents: Agents) -> None:
    created = agents.create()
    response = agents.request(
        "PATCH", f"/{created['id']}", {"name": "ok", "parameters": {"top_p": 2}}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "parameters.top_p"
    assert agents.request("GET", f"/{created['id']}").json() == created


def test_it_stores_a_tool_with_null_parameters_as_one_without(agents: Agents) -> None:
    """Found by tests/test_api_fuzz.py: the answer showed `"parameters": null`, which its
    document does not allow (an object, or no such key)."""
    tool = {"type": "function", "function": {"name": "ping", "parameters": None}}
    created = agents.create(tools=[tool])
    assert created["tools"] == [{"type": "function", "function": {"name": "ping"}}]
    assert agents.request("GET", f"/{created['id']}").json()["tools"] == created["tools"]


@pytest.mark.parametrize("body", [b"{", b"[]", b'"support"'])
def test_it_refuses_a_body_that_is_not_a_json_object(agents: Agents, body: bytes) -> None:
    response = agents.http.post(
        "/api/v1/agents",
        content=body,
        headers={
            "Authorization": f"Bearer {agents.key.secret}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_it_hides_another_workspaces_agents(agents: Agents, outsider_agents: Agents) -> None:
    theirs = agents.create()
    rival = create_workspace("Rival", _user("r@rival.test"), Plan.objects.get(code="chat_agent"))
    rival_agents = Agents(issue_key(rival, "rk"))
    assert rival_agents.request("GET").json()["data"] == []
    for method, path, body in [
        ("GET", f"/{theirs['id']}", None),
        ("PATCH", f"/{theirs['id']}", {"description": "mine now"}),
        ("DELETE", f"/{theirs['id']}", None),
        ("POST", f"/{theirs['id']}/chat", {"messages": [{"role": "user", "content": "hi"}]}),
        ("GET", "/not-a-uuid", None),
    ]:
        response = rival_agents.request(method, path, body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "agent_not_found"
    assert Agent.objects.get().description == SUPPORT["description"]


def test_it_needs_the_chat_agent_scope(agents: Agents, outsider_agents: Agents, owner) -> None:
    response = outsider_agents.request("GET")  # the Starter plan: chat only
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"

    chat_only = Agents(issue_key(owner.workspace, "chat-only", scopes=["chat"]))
    assert chat_only.request("POST", "", SUPPORT).status_code == 403
    assert not Agent.objects.exists()


def test_it_needs_a_key(agents: Agents) -> None:
    response = agents.http.get("/api/v1/agents")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def nested_schema(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"description": "a\u0000b"}, "description"),
        ({"systemPrompt": "be \u0000 brief"}, "systemPrompt"),
        ({"systemPrompt": "lone \ud800 surrogate"}, "systemPrompt"),
        (
            {
                "tools": [
                    {
                        **WEATHER_TOOL,
                        "function": {**WEATHER_TOOL["function"], "description": "w\u0000"},
                    }
                ]
            },
            "tools[0].function.description",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {"type": "object", "properties": {"c\u0000": {}}},
                        },
                    }
                ]
            },
            "tools[0].function.parameters.properties",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": nested_schema(150)},
                    }
                ]
            },
            "tools[0].function.parameters",
        ),
    ],
)
def test_it_refuses_nul_surrogates_and_deep_nesting_with_a_400_naming_the_field(
    agents: Agents, fields: dict, param: str
) -> None:
    body = json.dumps({**SUPPORT, **fields}, ensure_ascii=True).encode()
    response = agents.http.post(
        "/api/v1/agents",
        content=body,
        headers={
            "Authorization": f"Bearer {agents.key.secret}",
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"].startswith(param), error
    assert not Agent.objects.exists()
    created = agents.create()
    patched = agents.request("PATCH", f"/{created['id']}", fields)
    assert patched.status_code == 400, patched.content
