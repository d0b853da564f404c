"""Array caps on the gateway's bodies (proxy/validation.py): messages, tools, prompts and
embedding inputs over their cap are a 400 naming the field, in the endpoint's error shape, and
never reach the upstream; one text sent as token ids is one input, however long."""

from __future__ import annotations

import json

import pytest

from proxy.validation import MAX_EMBEDDING_INPUTS, MAX_MESSAGES, MAX_PROMPTS, MAX_TOOLS

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def send(client, path: str, body: dict, key) -> object:
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/chat/completions",
            {"model": "llama3.2", "messages": [USER] * (MAX_MESSAGES + 1)},
            f"messages: at most {MAX_MESSAGES} messages, got {MAX_MESSAGES + 1}",
        ),
        (
            "/v1/chat/completions",
            {"model": "llama3.2", "messages": [USER], "tools": [TOOL] * (MAX_TOOLS + 1)},
            f"tools: at most {MAX_TOOLS} tools, got {MAX_TOOLS + 1}",
        ),
        (
            "/v1/completions",
            {"model": "llama3.2", "prompt": ["hi"] * (MAX_PROMPTS + 1)},
            f"prompt: at most {MAX_PROMPTS} prompts, got {MAX_PROMPTS + 1}",
        ),
        (
            "/v1/embeddings",
            {"model": "nomic-embed-text", "input": ["hi"] * (MAX_EMBEDDING_INPUTS + 1)},
            f"input: at most {MAX_EMBEDDING_INPUTS} inputs, got {MAX_EMBEDDING_INPUTS + 1}",
        ),
    ],
    ids=["messages", "tools", "prompts", "embedding-inputs"],
)
def test_it_refuses_an_array_over_its_cap(client, gateway, key_a, upstream, path, body, message):
    response = send(client, path, body, key_a)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["param"] == message.split(":")[0]
    assert upstream.requests == []


def test_it_refuses_too_many_anthropic_tools_in_anthropics_shape(client, gateway, key_a, upstream):
    tool = {"name": "f", "input_schema": {"type": "object"}}
    body = {
        "model": "llama3.2",
        "max_tokens": 8,
        "messages": [USER],
        "tools": [tool] * (MAX_TOOLS + 1),
    }

    response = send(client, "/v1/messages", body, key_a)

    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": f"tools: at most {MAX_TOOLS} tools, got {MAX_TOOLS + 1}",
        },
    }
    assert upstream.requests == []


def test_it_takes_one_long_token_id_text_as_one_input(client, gateway, key_a) -> None:
    tokens = list(range(1, MAX_EMBEDDING_INPUTS + 500))
    body = {"model": "nomic-embed-text", "input": tokens}

    response = send(client, "/v1/embeddings", body, key_a)

    assert response.status_code == 200, response.content
    assert len(response.json()["data"]) == 1
