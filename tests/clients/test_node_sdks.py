"""The Node clients of the Responses API against the live gateway: the openai SDK's
`responses.create` and `responses.stream`, and the Vercel AI SDK's `openai(model)` (which speaks
the Responses API) with generateText and streamText."""

from __future__ import annotations

import json

import requests

from tests.clients.conftest import Gateway, client_version, run_node

STREAM_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 12,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def node_json(script: str, gateway: Gateway, node_version: str) -> dict:
    done = run_node(script, f"{gateway.url}/v1", gateway.key, "llama3.2")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_openai_node_responses_create_and_stream(gateway: Gateway, node_version: str) -> None:
    before = len(gateway.records())

    result = node_json("openai_responses.mjs", gateway, node_version)

    client_version("openai (Node)", result["version"])
    created = result["created"]
    assert created["text"] == "Hello from Node"
    assert created["model"] == "llama3.2"
    assert created["usage"]["output_tokens"] == 3  # Hello / from / Node
    assert [kind for kind, _ in result["events"]] == STREAM_EVENTS
    assert [number for _, number in result["events"]] == list(range(len(STREAM_EVENTS)))
    final = result["final"]
    assert final["status"] == "completed"
    assert final["text"] == result["deltas"] and len(final["text"].split()) == 12
    assert final["usage"]["output_tokens"] == 12
    # Stored (store defaults to true) once delivered: the key's workspace reads it, another's
    # gets the same 404 as for a missing id.
    url = f"{gateway.url}/v1/responses/{created['id']}"
    stored = requests.get(url, headers={"Authorization": f"Bearer {gateway.key}"}, timeout=30)
    assert stored.status_code == 200 and stored.json()["output"][0]["content"][0]["text"] == (
        "Hello from Node"
    )
    other = requests.get(url, headers={"Authorization": f"Bearer {gateway.other_key}"}, timeout=30)
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    records = gateway.wait_for_records(before + 2)[:2]
    assert sorted((r["endpoint"], r["stream"], r["completion_tokens"]) for r in records) == [
        ("responses", False, 3),
        ("responses", True, 12),
    ]


def test_vercel_ai_sdk_openai_generate_and_stream_text(gateway: Gateway, node_version: str) -> None:
    before = len(gateway.records())

    result = node_json("ai_sdk_openai.mjs", gateway, node_version)

    for name, version in result["versions"].items():
        client_version(f"Vercel AI SDK {name}", version)
    generated = result["generated"]
    assert generated["text"] == "Hello from the AI SDK"
    assert generated["finishReason"] == "stop"
    assert generated["usage"]["outputTokens"] == 5
    streamed = result["streamed"]
    assert len(streamed["text"].split()) == 12
    assert streamed["finishReason"] == "stop"
    assert streamed["usage"]["outputTokens"] == 12
    records = gateway.wait_for_records(before + 2)[:2]
    assert {(r["endpoint"], r["dialect"], r["status"]) for r in records} == {
        ("responses", "responses", 200)
    }
