"""The /api/v1 endpoints of the gateway (chat, chat/stream, generate, models, health) and the
siati-style headers (tier, end user), through the Django test client with real headers."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bench.fake_upstream import MESSAGE_OVERHEAD, count_tokens
from bench.fake_upstream import prompt_tokens_for as fake_prompt_tokens
from billing.models import Plan, UsageRecord
from keys.services import issue_key


def post(client, path: str, body: dict, key=None, **headers):
    if key is not None:
        headers.setdefault("HTTP_X_API_KEY", key.secret)
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def chat_body(text: str = "hi", **extra) -> dict:
    return {"model": "llama3.2", "messages": [{"role": "user", "content": text}], **extra}


def sse_payloads(response) -> list[str]:
    """Every `data:` payload of an SSE body, checking the framing on the way."""
    text = b"".join(response.streaming_content).decode()
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events), events
    return [e[len("data: ") :] for e in events]


def workspace_plan(key) -> Plan:
    return key.key.workspace.subscription.plan


# --- chat ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [{"HTTP_X_API_KEY": "{}"}, {"HTTP_AUTHORIZATION": "Bearer {}"}],
    ids=["x-api-key", "bearer"],
)
def test_it_answers_api_chat_with_a_chat_completion(client, gateway, key_a, upstream, auth) -> None:
    headers = {name: value.format(key_a.secret) for name, value in auth.items()}
    body = chat_body("Hello [[reply:Hi from the gateway.]]")
    response = post(client, "/api/v1/chat", body, **headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == "llama3.2"
    assert len(data["choices"]) == 1
    choice = data["choices"][0]
    assert (choice["index"], choice["finish_reason"]) == (0, "stop")
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hi from the gateway."
    prompt = MESSAGE_OVERHEAD + count_tokens(body["messages"][0]["content"])
    assert {
        k: data["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    } == {
        "prompt_tokens": prompt,
        "completion_tokens": 5,
        "total_tokens": prompt + 5,
    }
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status, record.stream) == ("chat", 200, False)
    assert (record.prompt_tokens, record.completion_tokens) == (prompt, 5)


def test_it_streams_api_chat_stream_as_server_sent_events(client, gateway, key_a, upstream) -> None:
    body = chat_body("Stream please [[reply:one two three four]]")
    response = post(client, "/api/v1/chat/stream", body, key_a)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == "llama3.2" for c in chunks)
    assert all(c["choices"] and "usage" not in c for c in chunks)  # not asked for
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "one two three four"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert upstream.requests[-1]["body"]["stream"] is True
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.stream, record.status) == ("chat_stream", True, 200)
    assert record.completion_tokens == 4


def test_it_streams_chat_stream_even_when_the_body_says_otherwise(
    client, gateway, key_a, upstream
) -> None:
    body = chat_body(
        "[[reply:still streamed]]", stream=False, stream_options={"include_usage": True}
    )
    response = post(client, "/api/v1/chat/stream", body, key_a)

    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    last = json.loads(payloads[-2])
    assert last["choices"] == []
    prompt = fake_prompt_tokens("openai", upstream.requests[-1]["body"])
    assert last["usage"]["prompt_tokens"] == prompt
    assert last["usage"]["completion_tokens"] == 2


# --- generate -----------------------------------------------------------------------------------


def test_it_generates_from_a_prompt_and_a_system(client, gateway, key_a, upstream) -> None:
    body = {
        "model": "gpt-4o-mini",
        "prompt": "Summarize the gateway [[reply:A gateway meters calls.]]",
        "system": "You are terse.",
        "temperature": 0.2,
    }
    response = post(client, "/api/v1/generate", body, key_a)

    assert response.status_code == 200
    data = response.json()
    sent = upstream.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": body["prompt"]},
    ]
    assert sent["temperature"] == 0.2
    assert "prompt" not in sent and "system" not in sent
    prompt = fake_prompt_tokens("openai", sent)
    assert prompt == 2 * MESSAGE_OVERHEAD + count_tokens("You are terse.") + count_tokens(
        body["prompt"]
    )
    assert data == {
        "id": data["id"],
        "object": "text.generation",
        "created": data["created"],
        "model": "gpt-4o-mini",
        "response": "A gateway meters calls.",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": prompt, "completion_tokens": 5, "total_tokens": prompt + 5},
    }
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.requested_model, record.served_model) == (
        "generate",
        "gpt-4o-mini",
        "llama3.2",
    )
    assert "gateway;dur=" in response["Server-Timing"]


def test_it_generates_without_a_system(client, gateway, key_a, upstream) -> None:
    response = post(client, "/api/v1/generate", {"model": "llama3.2", "prompt": "hi"}, key_a)

    assert response.status_code == 200
    assert upstream.requests[-1]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert len(response.json()["response"].split()) == 12


def test_it_refuses_to_stream_generate(client, gateway, key_a, upstream) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "stream": True}
    response = post(client, "/api/v1/generate", body, key_a)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "stream: is not supported here; use POST /api/v1/chat/stream",
            "type": "invalid_request_error",
            "param": "stream",
            "code": "invalid_request_error",
        }
    }
    assert upstream.requests == []


def test_it_requires_a_prompt_for_generate(client, gateway, key_a) -> None:
    response = post(client, "/api/v1/generate", {"model": "llama3.2"}, key_a)

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "prompt: is required"
    assert response.json()["error"]["param"] == "prompt"


# --- models -------------------------------------------------------------------------------------


def test_it_lists_models_with_details(client, gateway, key_a, upstream) -> None:
    response = client.get("/api/v1/models", HTTP_X_API_KEY=key_a.secret)

    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "list"
    by_id = {m["id"]: m for m in data["data"]}
    assert {"llama3.2", "nomic-embed-text", "anthropic/claude-haiku-4-5-20251001"} <= set(by_id)
    llama = by_id["llama3.2"]
    assert llama["object"] == "model"
    assert llama["owned_by"] == "tollgate"
    assert isinstance(llama["created"], int)
    assert llama["kind"] == "chat"
    assert llama["context_window"] == 131072
    assert llama["pricing"]["currency"] == "USD"
    assert Decimal(llama["pricing"]["input_per_mtok"]) == Decimal("0.05")
    assert Decimal(llama["pricing"]["output_per_mtok"]) == Decimal("0.10")
    assert llama["capabilities"] == ["tools", "vision", "json", "streaming"]
    assert llama["aliases"] == ["gpt-4o-mini", "claude-3-5-haiku*"]
    assert by_id["nomic-embed-text"]["kind"] == "embedding"
    assert upstream.requests == []


def test_it_lists_models_in_the_plain_openai_shape_under_v1(client, gateway, key_a) -> None:
    data = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {key_a.secret}").json()

    llama = next(m for m in data["data"] if m["id"] == "llama3.2")
    assert set(llama) == {"id", "object", "created", "owned_by"}


def test_it_retrieves_one_model_with_details(client, gateway, key_a) -> None:
    response = client.get("/api/v1/models/nomic-embed-text", HTTP_X_API_KEY=key_a.secret)

    assert response.status_code == 200
    assert response.json()["id"] == "nomic-embed-text"
    assert response.json()["kind"] == "embedding"


def test_it_lists_only_the_models_the_plan_allows(client, gateway, key_a) -> None:
    plan = workspace_plan(key_a)
    plan.model_patterns = ["llama*"]
    plan.save()

    data = client.get("/api/v1/models", HTTP_X_API_KEY=key_a.secret).json()

    assert [m["id"] for m in data["data"]] == ["llama3.2"]


def test_it_lists_only_the_models_the_key_allows(client, gateway, owner) -> None:
    restricted = issue_key(owner.workspace, "llama-only", model_patterns=["llama*"])
    everything = issue_key(owner.workspace, "everything")

    restricted_ids = [
        m["id"]
        for m in client.get("/api/v1/models", HTTP_X_API_KEY=restricted.secret).json()["data"]
    ]
    all_ids = [
        m["id"]
        for m in client.get("/api/v1/models", HTTP_X_API_KEY=everything.secret).json()["data"]
    ]
    assert restricted_ids == ["llama3.2"]
    assert {"llama3.2", "nomic-embed-text", "anthropic/claude-haiku-4-5-20251001"} <= set(all_ids)
    assert client.get("/v1/models", HTTP_X_API_KEY=restricted.secret).json()["data"][0]["id"] == (
        "llama3.2"
    )


def test_it_answers_health_without_a_key(client, db) -> None:
    response = client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


# --- tier ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["HTTP_X_TIER", "HTTP_X_SIATI_TIER"])
def test_it_refuses_an_unknown_tier(client, gateway, key_a, upstream, header) -> None:
    response = post(client, "/api/v1/chat", chat_body(), key_a, **{header: "turbo"})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": 'X-Tier: unknown tier "turbo"; expected one of slow, medium, fast, ludicrous',
            "type": "invalid_request_error",
            "param": "X-Tier",
            "code": "invalid_request_error",
        }
    }
    assert upstream.requests == []


@pytest.mark.parametrize("header", ["HTTP_X_TIER", "HTTP_X_SIATI_TIER"])
def test_it_refuses_a_tier_outside_the_plan(client, gateway, key_a, upstream, header) -> None:
    plan = workspace_plan(key_a)
    plan.tiers = ["slow"]
    plan.save()

    response = post(client, "/v1/chat/completions", chat_body(), key_a, **{header: "fast"})

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Tier 'fast' is not included in your plan (allowed: slow).",
            "type": "permission_error",
            "param": None,
            "code": "tier_not_allowed",
        }
    }
    assert upstream.requests == []
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (403, "tier_not_allowed")


def test_it_serves_and_records_a_tier_the_plan_includes(client, gateway, key_a, upstream) -> None:
    plan = workspace_plan(key_a)
    plan.tiers = ["slow"]
    plan.save()

    response = post(client, "/api/v1/chat", chat_body(), key_a, HTTP_X_SIATI_TIER="Slow")

    assert response.status_code == 200
    assert UsageRecord.objects.get().tier == "slow"


def test_it_uses_the_keys_default_tier(client, gateway, owner, upstream) -> None:
    key = issue_key(owner.workspace, "fast-key", default_tier="fast")

    response = post(client, "/api/v1/chat", chat_body(), key)

    assert response.status_code == 200
    assert UsageRecord.objects.get().tier == "fast"


# --- end user -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["HTTP_X_END_USER", "HTTP_X_SIATI_USER"])
def test_it_passes_the_end_user_header_on(client, gateway, key_a, upstream, header) -> None:
    response = post(client, "/api/v1/chat", chat_body(), key_a, **{header: "customer-17"})

    assert response.status_code == 200
    assert upstream.requests[-1]["body"]["user"] == "customer-17"
    assert UsageRecord.objects.get().end_user == "customer-17"


def test_it_takes_the_end_user_from_the_body(client, gateway, key_a, upstream) -> None:
    response = post(client, "/api/v1/chat/stream", chat_body(user="body-user"), key_a)
    b"".join(response.streaming_content)

    assert upstream.requests[-1]["body"]["user"] == "body-user"
    assert UsageRecord.objects.get().end_user == "body-user"


def test_it_prefers_the_end_user_header_to_the_body(client, gateway, key_a, upstream) -> None:
    body = {"model": "llama3.2", "prompt": "hi", "user": "body-user"}
    response = post(client, "/api/v1/generate", body, key_a, HTTP_X_SIATI_USER="header-user")

    assert response.status_code == 200
    assert upstream.requests[-1]["body"]["user"] == "header-user"
    assert UsageRecord.objects.get().end_user == "header-user"


def test_it_sends_no_user_when_there_is_none(client, gateway, key_a, upstream) -> None:
    post(client, "/api/v1/chat", chat_body(), key_a)

    assert "user" not in upstream.requests[-1]["body"]
    assert UsageRecord.objects.get().end_user == ""
