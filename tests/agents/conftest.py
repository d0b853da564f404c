"""Agents fixtures: the gateway's catalog (llama3.2 on the fake Ollama), a key of a workspace on
the Builder plan (chat, chat_agent), and a small client for /api/v1/agents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..proxy.conftest import (  # noqa: F401 - the gateway's fixtures, shared
    _keep_the_test_connection,
    _reset_upstreams,
    gateway,
    openai_client,
    upstream,
    wsgi_http_client,
)

API = "/api/v1/agents"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
SUPPORT = {
    "name": "support",
    "description": "Answers Acme's customers",
    "model": "llama3.2",
    "systemPrompt": "You are Acme's support agent. Be brief.",
    "parameters": {"temperature": 0.2, "max_tokens": 64, "stop": ["END"]},
    "tools": [WEATHER_TOOL],
}


class Agents:
    """/api/v1/agents with one key, through the real WSGI handler, in the test's transaction."""

    def __init__(self, key: Any) -> None:
        self.http, self.key = wsgi_http_client(), key

    def request(self, method: str, path: str = "", body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.key.secret}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        content = None if body is None else json.dumps(body).encode()
        return self.http.request(method, f"{API}{path}", content=content, headers=headers)

    def create(self, **fields: Any) -> dict:
        response = self.request("POST", "", {**SUPPORT, **fields})
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def agents(request, key_a) -> Agents:
    """The Builder plan's workspace (workspace_a): scopes chat and chat_agent."""
    request.getfixturevalue("gateway")
    return Agents(key_a)


@pytest.fixture
def outsider_agents(request, key_b) -> Agents:
    """Bravo's key, on the Starter plan: chat only."""
    request.getfixturevalue("gateway")
    return Agents(key_b)
