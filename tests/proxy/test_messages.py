"""The official anthropic SDK against POST /v1/messages, served by an OpenAI-style (Ollama)
upstream: every answer is translated from the canonical shape."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from bench.fake_upstream import IMAGE_TOKENS, MESSAGE_OVERHEAD, count_tokens
from bench.fake_upstream import prompt_tokens_for as fake_prompt_tokens
from billing.catalog import apply as apply_catalog
from billing.models import UsageRecord
from keys.services import issue_key
from proxy.models import Model
from proxy.registry import registry
from tests.proxy.conftest import wsgi_http_client
from tests.proxy.test_limits_http import put_on

HAIKU = "claude-haiku-4-5-20251001"  # llama3.2, by the alias pattern of the default catalog
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(autouse=True)
def _haiku_is_llama(db, request: pytest.FixtureRequest) -> None:
    """The default catalog's `claude-haiku-4*` alias on the `gateway` catalog's llama3.2, which
    can reason here (the fake's models all can)."""
    if "gateway" in request.fixturenames:
        request.getfixturevalue("gateway")
        Model.objects.filter(name="llama3.2").update(
            aliases=["gpt-4o-mini", "claude-3-5-haiku*", "claude-haiku-4*"],
            capabilities=["tools", "vision", "json", "reasoning", "streaming"],
        )
        registry.invalidate()


def user(content) -> list[dict]:
    return [{"role": "user", "content": content}]


def post_messages(client, key, body: dict, path: str = "/v1/messages", **headers):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret,
        **headers,
    )  # fmt: skip


def sse(response) -> list[tuple[str, dict]]:
    """(event name, data) of a streamed response, in order."""
    events = []
    for frame in b"".join(response.streaming_content).decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- messages -----------------------------------------------------------------------------------


def test_it_answers_a_plain_message_in_the_name_the_client_sent(anthropic_client, upstream) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=100, messages=user("Greet me [[reply:Hello there, friend!]]")
    )

    assert (message.type, message.role, message.model) == ("message", "assistant", HAIKU)
    assert message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello there, friend!"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "llama3.2"
    assert sent["body"]["max_tokens"] == 100
    assert not [name for name in sent["body"] if name.startswith("_")]  # private notes stay home
    assert message.usage.input_tokens == fake_prompt_tokens("openai", sent["body"])
    assert message.usage.output_tokens == 5  # Hello / there / , / friend / !


def test_it_takes_the_system_prompt_as_an_array_with_cache_control(
    anthropic_client, upstream
) -> None:
    system = [
        {"type": "text", "text": "You are Reginald the butler.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ]  # fmt: skip
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=100, system=system, messages=user("hello")
    )

    assert message.content[0].text.split()[0] == "Reginald"  # the fake starts with it
    sent = upstream.requests[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "You are Reginald the butler.\nBe brief."}
    assert message.usage.input_tokens == 2 * MESSAGE_OVERHEAD + count_tokens(
        "You are Reginald the butler.\nBe brief."
    ) + count_tokens("hello")


def test_it_takes_a_system_message_inside_messages_in_its_place(anthropic_client, upstream) -> None:
    """Claude Code's mid-conversation-system beta: `{"role": "system"}` items among the
    messages (its agent and skill lists), text blocks with cache_control included."""
    messages = [
        *user("hello"),
        {"role": "assistant", "content": "Hi."},
        *user("list the agents"),
        {"role": "system", "content": [
            {"type": "text", "text": "Agents: Reginald.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Skills: none."},
        ]},
    ]  # fmt: skip
    message = anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=100,
        system="You are terse.",
        messages=messages,
        extra_headers={"anthropic-beta": "mid-conversation-system-2026-04-07"},
    )

    assert message.content[0].text
    sent = upstream.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "system"]
    assert sent[-1] == {"role": "system", "content": "Agents: Reginald.\nSkills: none."}
    assert UsageRecord.objects.get().status == 200


def test_it_refuses_a_system_message_it_cannot_take_in_anthropics_words(
    anthropic_client, upstream
) -> None:
    """Claude Code retries without its beta when the error says "Unexpected role"."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_client.messages.create(
            model=HAIKU,
            max_tokens=100,
            messages=[*user("hello"), {"role": "system", "content": [image]}],
        )
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": 'messages: Unexpected role "system". The Messages API accepts a top-level '
        '`system` parameter, not "system" as an input message role.',
    }
    assert upstream.requests == []


CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_it_answers_structured_outputs_with_json_text(anthropic_client, upstream, stream) -> None:
    request = {
        "model": HAIKU,
        "max_tokens": 200,
        "messages": user("The largest city of France?"),
        "output_config": {"format": {"type": "json_schema", "schema": CITY}},
    }
    if stream:
        with anthropic_client.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = anthropic_client.messages.create(**request)

    assert [block.type for block in message.content] == ["text"]
    answer = json.loads(message.content[0].text)
    assert set(answer) == {"city", "population"}
    assert isinstance(answer["city"], str) and isinstance(answer["population"], int)
    sent = upstream.requests[-1]["body"]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": CITY, "strict": True},
    }


@pytest.mark.parametrize(
    "output_config, message",
    [
        ("json", "output_config: expected an object, got string"),
        ({"format": {"type": "xml"}}, "output_config.format.type: Input should be 'json_schema'"),
        ({"format": {"type": "json_schema"}}, "output_config.format.schema: Field required"),
        ({"format": [1]}, "output_config.format: expected an object, got array"),
    ],
)
def test_it_names_a_faulty_output_format(anthropic_client, output_config, message) -> None:
    request = {"model": HAIKU, "max_tokens": 5, "messages": user("hi")}
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_client.post(
            "/v1/messages", body={**request, "output_config": output_config}, cast_to=object
        )
    assert caught.value.body["error"]["message"].startswith(message)


def test_it_sends_image_blocks_as_image_parts(anthropic_client, upstream) -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is in these pictures?"},
    ]
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user(content))

    sent = upstream.requests[-1]["body"]["messages"][0]["content"]
    assert sent == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is in these pictures?"},
    ]
    assert message.usage.input_tokens == MESSAGE_OVERHEAD + 2 * IMAGE_TOKENS + count_tokens(
        "What is in these pictures?"
    )


def test_it_round_trips_a_tool_use(anthropic_client, upstream) -> None:
    messages = user("What is the weather in Bern?")
    first = anthropic_client.messages.create(
        model=HAIKU, max_tokens=200, messages=messages, tools=[WEATHER]
    )

    assert first.stop_reason == "tool_use"
    assert [block.type for block in first.content] == ["tool_use"]
    tool_use = first.content[0]
    assert (tool_use.name, tool_use.input) == ("get_weather", {"city": "sample"})
    assert upstream.requests[-1]["body"]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["input_schema"],
                "description": WEATHER["description"],
            },
        }
    ]

    messages += [
        first.to_param(),
        user([{"type": "tool_result", "tool_use_id": tool_use.id, "content": "Sunny, 21 °C"}])[0],
    ]
    second = anthropic_client.messages.create(
        model=HAIKU, max_tokens=200, messages=messages, tools=[WEATHER]
    )

    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tool returned: Sunny, 21 °C"
    sent = upstream.requests[-1]["body"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": tool_use.id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "sample"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": tool_use.id, "content": "Sunny, 21 °C"}


def test_it_streams_a_tool_use_as_input_json_deltas(
    anthropic_client, client, key_a, upstream
) -> None:
    request = {
        "model": HAIKU,
        "max_tokens": 200,
        "messages": user("Weather in Bern?"),
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }
    with anthropic_client.messages.stream(**request) as stream:
        helper_events = [event.type for event in stream]
        final = stream.get_final_message()

    assert "input_json" in helper_events
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in final.content] == [
        ("tool_use", "get_weather", {"city": "sample"})
    ]
    assert upstream.requests[-1]["body"]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }

    events = sse(post_messages(client, key_a, {**request, "stream": True}))
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert events[1][1]["content_block"]["type"] == "tool_use"
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {"city": "sample"}
    assert events[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_it_streams_text_in_anthropics_exact_event_sequence(client, gateway, key_a) -> None:
    body = {"model": HAIKU, "max_tokens": 50, "stream": True, "messages": user("[[reply:a b c]]")}
    response = post_messages(client, key_a, body, "/v1/messages")

    assert response["Content-Type"].startswith("text/event-stream")
    events = sse(response)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    assert (start["model"], start["content"], start["stop_reason"]) == (HAIKU, [], None)
    assert events[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == "a b c"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 3
    assert delta["usage"]["input_tokens"] == start["usage"]["input_tokens"] > 0


def test_it_streams_text_and_the_final_usage_to_messages_stream(anthropic_client) -> None:
    request = {"model": HAIKU, "max_tokens": 100, "messages": user("Tell me about gates")}
    whole = anthropic_client.messages.create(**request)

    with anthropic_client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == whole.content[0].text == final.content[0].text
    assert len(text.split()) == 12
    assert final.model == HAIKU
    assert (final.usage.input_tokens, final.usage.output_tokens) == (
        whole.usage.input_tokens,
        whole.usage.output_tokens,
    )
    record = UsageRecord.objects.get(stream=True)
    assert (record.dialect, record.endpoint) == ("anthropic", "messages")
    assert (record.prompt_tokens, record.completion_tokens) == (whole.usage.input_tokens, 12)
    assert record.tokens_estimated is False


def test_it_answers_thinking_with_the_upstreams_reasoning(anthropic_client, upstream) -> None:
    request = {
        "model": HAIKU,
        "max_tokens": 300,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": user("Think about gates"),
    }
    message = anthropic_client.messages.create(**request)

    assert upstream.requests[-1]["body"]["reasoning_effort"] == "low"
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking.startswith("Thinking it over:")
    reasoning = count_tokens(message.content[0].thinking)
    assert message.usage.output_tokens == reasoning + count_tokens(message.content[1].text)

    with anthropic_client.messages.stream(**request) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_message()
    assert "thinking" in kinds  # the SDK's event for a thinking_delta
    assert [(b.type, getattr(b, "thinking", None)) for b in final.content] == [
        ("thinking", message.content[0].thinking),
        ("text", None),
    ]
    assert final.content[1].text == message.content[1].text


def test_it_answers_without_thinking_from_a_model_that_cannot_reason(
    anthropic_client, openai_client, upstream
) -> None:
    Model.objects.filter(name="llama3.2").update(capabilities=["tools", "streaming"])
    registry.invalidate()
    message = anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=300,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=user("Think about gates"),
    )

    assert "reasoning_effort" not in upstream.requests[-1]["body"]
    assert [block.type for block in message.content] == ["text"]
    openai_client.chat.completions.create(  # an OpenAI client's explicit ask is passed on
        model="llama3.2", messages=user("hi"), reasoning_effort="low"
    )
    assert upstream.requests[-1]["body"]["reasoning_effort"] == "low"


@pytest.mark.parametrize("budget, effort", [(1024, "low"), (8000, "medium"), (16384, "high")])
def test_it_maps_the_thinking_budget_to_a_reasoning_effort(
    anthropic_client, upstream, budget, effort
) -> None:
    anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=budget + 100,
        thinking={"type": "enabled", "budget_tokens": budget},
        messages=user("hi"),
    )
    assert upstream.requests[-1]["body"]["reasoning_effort"] == effort


def test_it_stops_at_stop_sequences_and_at_max_tokens(anthropic_client, upstream) -> None:
    forced = user("[[reply:The answer is 42. Done here.]]")
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=100, messages=forced, stop_sequences=["Done"]
    )

    assert upstream.requests[-1]["body"]["stop"] == ["Done"]
    assert message.content[0].text == "The answer is 42. "
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "Done")

    with anthropic_client.messages.stream(
        model=HAIKU, max_tokens=100, messages=forced, stop_sequences=["Done"]
    ) as stream:
        final = stream.get_final_message()
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "Done")

    short = anthropic_client.messages.create(model=HAIKU, max_tokens=2, messages=forced)
    assert (short.stop_reason, short.usage.output_tokens) == ("max_tokens", 2)


# --- count_tokens -------------------------------------------------------------------------------


def test_it_counts_tokens_without_calling_or_charging(anthropic_client, upstream) -> None:
    request = {
        "model": HAIKU,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Weather in Bern?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Bern"}}
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}]},
        ],
        "tools": [WEATHER],
    }  # fmt: skip
    counted = anthropic_client.messages.count_tokens(**request)

    assert counted.input_tokens == fake_prompt_tokens("anthropic", request)
    assert upstream.requests == []
    assert UsageRecord.objects.count() == 0


def test_it_refuses_count_tokens_for_a_model_the_key_may_not_use(client, gateway, owner) -> None:
    restricted = issue_key(owner.workspace, "qwen-only", model_patterns=["qwen*"])
    response = post_messages(
        client, restricted, {"model": HAIKU, "messages": user("hi")}, "/v1/messages/count_tokens"
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


# --- the way Claude Code calls ------------------------------------------------------------------


def test_it_accepts_claude_codes_beta_query_bearer_key_and_headers(client, gateway, key_a) -> None:
    body = {"model": HAIKU, "max_tokens": 20, "messages": user("[[reply:ok]]")}
    response = client.post(
        "/v1/messages?beta=true",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}",
        HTTP_ANTHROPIC_VERSION="2023-06-01",
        HTTP_ANTHROPIC_BETA="claude-code-20250219,interleaved-thinking-2025-05-14",
    )
    assert response.status_code == 200
    assert response.json()["content"] == [{"type": "text", "text": "ok"}]


def test_it_serves_the_sdks_beta_messages_and_the_api_v1_base(anthropic_client, key_a) -> None:
    beta = anthropic_client.beta.messages.create(
        model=HAIKU,
        max_tokens=20,
        messages=user("[[reply:beta ok]]"),
        betas=["interleaved-thinking-2025-05-14"],
    )
    assert beta.content[0].text == "beta ok"

    api_v1 = anthropic.Anthropic(
        base_url="http://testserver/api",
        api_key=key_a.secret,
        http_client=wsgi_http_client(),
        max_retries=0,
    )
    assert (
        api_v1.messages.create(model=HAIKU, max_tokens=20, messages=user("[[reply:api ok]]"))
        .content[0]
        .text
        == "api ok"
    )
    assert [r.endpoint for r in UsageRecord.objects.order_by("started_at")] == ["messages"] * 2


def test_it_serves_an_unknown_name_with_the_default_model(
    anthropic_client, openai_client, upstream
) -> None:
    apply_catalog({"settings": {"default_model": "llama3.2"}})
    message = anthropic_client.messages.create(
        model="claude-mystery-9", max_tokens=20, messages=user("[[reply:still here]]")
    )

    assert message.model == "claude-mystery-9"
    assert message.content[0].text == "still here"
    assert upstream.requests[-1]["body"]["model"] == "llama3.2"
    record = UsageRecord.objects.get()
    assert (record.requested_model, record.served_model) == ("claude-mystery-9", "llama3.2")
    with pytest.raises(openai.NotFoundError):  # the OpenAI endpoints keep their 404
        openai_client.chat.completions.create(model="claude-mystery-9", messages=user("hi"))


def test_it_records_usage_with_the_anthropic_dialect_and_end_user(anthropic_client) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model=HAIKU, max_tokens=50, metadata={"user_id": "user-7"}, messages=user("hi")
    )
    message = raw.parse()

    record = UsageRecord.objects.get()
    assert (record.dialect, record.endpoint, record.end_user) == ("anthropic", "messages", "user-7")
    assert (record.requested_model, record.served_model) == (HAIKU, "llama3.2")
    assert (record.prompt_tokens, record.completion_tokens) == (
        message.usage.input_tokens,
        message.usage.output_tokens,
    )
    assert (record.status, record.credits, record.tokens_estimated) == (200, 1, False)
    assert raw.headers["X-RateLimit-Limit"] == "200"  # the chat_agent plan's rpm
    assert raw.headers["X-RateLimit-Remaining"] == "199"
    assert message._request_id == raw.headers["X-Request-Id"] == record.request_id


def test_it_replays_an_idempotent_repeat_in_anthropics_format(client, gateway, key_a, upstream):
    body = {"model": HAIKU, "max_tokens": 50, "messages": user("hello")}
    key = {"HTTP_IDEMPOTENCY_KEY": "claude-1"}
    first = post_messages(client, key_a, body, **key)
    second = post_messages(client, key_a, body, **key)
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()

    streamed = {**body, "stream": True}
    key = {"HTTP_IDEMPOTENCY_KEY": "claude-2"}
    live = sse(post_messages(client, key_a, streamed, **key))
    replayed = post_messages(client, key_a, streamed, **key)
    assert replayed["Idempotent-Replayed"] == "true"
    replay = sse(replayed)  # the stored result, as one text delta
    assert [name for name, _ in replay] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(d["delta"].get("text", "") for n, d in live if n == "content_block_delta")
    assert replay[3][1]["delta"]["text"] == text
    assert replay[-2][1]["usage"] == live[-2][1]["usage"]
    assert len(upstream.requests) == 2


# --- errors -------------------------------------------------------------------------------------


def sdk(key_secret: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url="http://testserver",
        api_key=key_secret,
        http_client=wsgi_http_client(),
        max_retries=0,
    )


def test_it_raises_the_sdks_authentication_error_for_a_bad_key(gateway) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        sdk("sk-tg-not-a-real-key").messages.create(model=HAIKU, max_tokens=5, messages=user("x"))
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key."},
    }


def test_it_answers_a_missing_key_on_count_tokens_in_anthropics_format(client, gateway) -> None:
    response = client.post(
        "/v1/messages/count_tokens", json.dumps({"model": HAIKU}), content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "authentication_error"


def test_it_answers_an_unknown_messages_path_with_anthropics_404(client, db) -> None:
    response = client.post("/v1/messages/batches", "{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_it_raises_the_sdks_permission_denied_error(gateway, owner) -> None:
    restricted = issue_key(owner.workspace, "qwen-only", model_patterns=["qwen*"])
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        sdk(restricted.secret).messages.create(model=HAIKU, max_tokens=5, messages=user("x"))
    assert caught.value.body["error"]["type"] == "permission_error"
    assert "llama3.2" in caught.value.body["error"]["message"]


def test_it_raises_the_sdks_not_found_error_without_a_default_model(anthropic_client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.messages.create(model="claude-nope-1", max_tokens=5, messages=user("x"))
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "claude-nope-1" in caught.value.body["error"]["message"]


def test_it_raises_the_sdks_rate_limit_error_with_the_limit_headers(
    anthropic_client, key_a
) -> None:
    put_on(key_a, "trial_chat", rpm=1)
    anthropic_client.messages.create(model=HAIKU, max_tokens=5, messages=user("a"))
    with pytest.raises(anthropic.RateLimitError) as caught:
        anthropic_client.messages.create(model=HAIKU, max_tokens=5, messages=user("b"))
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    headers = caught.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-remaining"] == "0"


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"messages": [*user("hi"), {"role": "assistant", "content": "yo"}, *user([{"type": "video"}])]},
            'messages.2.content.0.type: unknown content block type "video"',
        ),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role: Input should be"),
        ({"messages": [*user("hi"), {"role": "system", "content": [{"type": "image"}]}]}, 'messages: Unexpected role "system"'),
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"temperature": 1.5}, "temperature: must be between 0 and 1"),
        ({"tools": [{"name": "t"}]}, "tools.0.input_schema: Field required"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens: expected a positive integer"),
        ({"system": [{"type": "image"}]}, 'system.0.type: expected a "text" block'),
        ({"tool_choice": {"type": "maybe"}}, "tool_choice.type: expected 'auto', 'any'"),
    ],
)  # fmt: skip
def test_it_names_the_faulty_field_like_anthropic(anthropic_client, change, message) -> None:
    request = {"model": HAIKU, "max_tokens": 5, "messages": user("hi"), **change}
    request = {name: value for name, value in request.items() if value is not None}
    with pytest.raises(anthropic.BadRequestError) as caught:  # as sent, not as the SDK types it
        anthropic_client.post("/v1/messages", body=request, cast_to=object)
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert caught.value.body["error"]["message"].startswith(message)
    assert UsageRecord.objects.get().status == 400


def test_it_ends_a_broken_stream_with_an_error_event(client, gateway, key_a) -> None:
    body = {
        "model": HAIKU,
        "max_tokens": 50,
        "stream": True,
        "messages": user("hi [[drop_after:4]]"),
    }
    events = sse(post_messages(client, key_a, body))

    assert events[0][0] == "message_start"
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": events[-1][1]["error"]["message"]}},
    )  # fmt: skip
    assert "message_stop" not in [name for name, _ in events]
    record = UsageRecord.objects.get()
    assert (record.status, record.incomplete) == (502, True)


def test_it_documents_the_anthropic_endpoints_with_anthropics_error_shape(client, db) -> None:
    document = client.get("/api/v1/schema").json()
    for path in ("/v1/messages", "/api/v1/messages", "/v1/messages/count_tokens"):
        assert "post" in document["paths"][path], path
    operation = document["paths"]["/v1/messages"]["post"]
    error = operation["responses"]["429"]["content"]["application/json"]["schema"]["$ref"]
    assert error == "#/components/schemas/AnthropicError"
    assert {"BearerAuth": []} in operation["security"]
