"""Idempotency-Key and seed 002's X-Request-Id: a repeat is answered from store, uncharged."""

from __future__ import annotations

import json

from billing.models import UsageRecord
from proxy import idempotency

CHAT = "/v1/chat/completions"


def chat(client, key, content: str = "hello", headers: dict | None = None, **extra):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret,
        **(headers or {}),
    )  # fmt: skip


def sse_text(response) -> str:
    text = ""
    for line in b"".join(response.streaming_content).decode().split("\n"):
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += (choice.get("delta") or {}).get("content") or ""
    return text


KEY = {"HTTP_IDEMPOTENCY_KEY": "order-42"}


def test_it_replays_a_repeat_without_calling_or_charging(client, gateway, key_a, upstream) -> None:
    first = chat(client, key_a, headers=KEY)
    second = chat(client, key_a, headers=KEY)
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert second.json()["choices"] == first.json()["choices"]
    assert second.json()["usage"] == first.json()["usage"]
    assert len(upstream.requests) == 1
    charged = list(UsageRecord.objects.order_by("started_at").values_list("credits", "error_code"))
    assert charged == [(1, ""), (0, "replayed")]


def test_it_takes_a_clients_x_request_id_as_the_key(client, gateway, key_a, upstream) -> None:
    chat(client, key_a, headers={"HTTP_X_REQUEST_ID": "req-7"})
    replay = chat(client, key_a, headers={"HTTP_X_REQUEST_ID": "req-7"})
    assert replay["Idempotent-Replayed"] == "true"
    assert replay["X-Request-Id"] == "req-7"
    assert len(upstream.requests) == 1
    chat(client, key_a)  # our own request ids are never keys
    chat(client, key_a)
    assert len(upstream.requests) == 3


def test_it_refuses_the_same_key_with_another_body(client, gateway, key_a) -> None:
    chat(client, key_a, "first", headers=KEY)
    response = chat(client, key_a, "second", headers=KEY)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_it_answers_409_while_the_first_is_running(client, gateway, key_a, upstream) -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}
    idempotency.claim(str(key_a.key.workspace_id), "chat_completions", "order-42", body)
    response = chat(client, key_a, headers=KEY)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_flight"
    assert upstream.requests == []


def test_it_lets_a_failed_call_be_retried(client, gateway, key_a, upstream) -> None:
    failed = chat(client, key_a, "[[status:500]] x", headers=KEY)
    assert failed.status_code == 503
    retried = chat(client, key_a, "[[status:500]] x", headers=KEY)
    assert retried.status_code == 503  # tried again for real, not replayed
    assert "Idempotent-Replayed" not in retried
    assert len(upstream.requests) == 2


def test_it_does_not_store_a_bad_request(client, gateway, key_a) -> None:
    assert chat(client, key_a, headers=KEY, temperature=7).status_code == 400
    assert chat(client, key_a, headers=KEY).status_code == 200


def test_it_replays_a_streamed_call_as_a_stream_of_its_result(
    client, gateway, key_a, upstream
) -> None:
    first = chat(client, key_a, headers=KEY, stream=True, stream_options={"include_usage": True})
    original = sse_text(first)
    second = chat(client, key_a, headers=KEY, stream=True, stream_options={"include_usage": True})
    assert second["Idempotent-Replayed"] == "true"
    body = b"".join(second.streaming_content).decode()
    assert body.endswith("data: [DONE]\n\n")
    events = [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: {")]
    assert (
        "".join((c["choices"][0]["delta"].get("content") or "") for c in events if c["choices"])
        == original
    )
    assert events[-1]["usage"]["completion_tokens"] == 12
    assert len(upstream.requests) == 1


def test_it_scopes_keys_to_the_workspace(client, gateway, key_a, key_b, upstream) -> None:
    chat(client, key_a, headers=KEY)
    other = chat(client, key_b, headers=KEY)
    assert "Idempotent-Replayed" not in other
    assert len(upstream.requests) == 2
