"""Models served by an `anthropic` upstream (the fake speaking Anthropic's API): Anthropic-format
clients pass through natively, OpenAI-format clients are translated; and the same model reached
through an `openai`-kind deployment answers the same."""

from __future__ import annotations

import json

import pytest

from bench.fake_upstream import count_tokens
from bench.fake_upstream import prompt_tokens_for as fake_prompt_tokens
from billing.models import UsageRecord
from proxy.models import Deployment, Upstream
from proxy.registry import registry
from tests.proxy.test_messages import WEATHER, post_messages, sse, user

SONNET = "claude-sonnet-4-7"  # the `sonnet` fixture's alias pattern claude-sonnet-4*
NATIVE = {"X-Tier": "fast"}  # the anthropic-kind deployment
TRANSLATED = {"X-Tier": "slow"}  # the openai-kind deployment of the same upstream model
OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}


# --- Anthropic clients: native pass-through -----------------------------------------------------


def test_it_sends_the_clients_own_request_to_an_anthropic_upstream(
    anthropic_client, sonnet, upstream, monkeypatch
) -> None:
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-fake")
    Upstream.objects.filter(name="fake-anthropic").update(api_keys=["env:FAKE_ANTHROPIC_KEY"])
    registry.invalidate()
    upstream.configure(require_keys=["sk-ant-fake"])
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "They greet me.", "signature": "c2lnbmF0dXJl"},
                {"type": "text", "text": "Hello!"},
            ],
        },
        {"role": "user", "content": "Tell me about gates"},
    ]  # fmt: skip
    request = {
        "model": SONNET,
        "max_tokens": 4000,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": history,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "user-9"},
    }
    message = anthropic_client.messages.create(
        **request, extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"}
    )

    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"] == {**request, "model": "claude-sonnet-4-6", "stream": False}
    assert sent["headers"]["x-api-key"] == "sk-ant-fake"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert message.model == SONNET
    assert message.id.startswith("msg_01")  # the upstream's own id
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature  # kept: only a native answer has one
    assert message.usage.service_tier == "standard"  # the upstream's usage object, as it was
    record = UsageRecord.objects.get()
    assert record.deployment_id == Deployment.objects.get(upstream__name="fake-anthropic").pk
    assert (record.dialect, record.end_user) == ("anthropic", "user-9")
    assert (record.prompt_tokens, record.completion_tokens) == (
        fake_prompt_tokens("anthropic", sent["body"]),
        message.usage.output_tokens,
    )


def test_it_passes_system_messages_inside_messages_to_an_anthropic_upstream_as_they_are(
    anthropic_client, sonnet, upstream
) -> None:
    """Claude Code's mid-conversation system messages reach an Anthropic upstream as it sent
    them, with its beta header."""
    messages = [
        *user("hello"),
        {"role": "system", "content": [{"type": "text", "text": "Agents: Reginald."}]},
    ]
    message = anthropic_client.messages.create(
        model=SONNET,
        max_tokens=100,
        messages=messages,
        extra_headers={**NATIVE, "anthropic-beta": "mid-conversation-system-2026-04-07"},
    )

    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["messages"] == messages
    assert sent["headers"]["anthropic-beta"] == "mid-conversation-system-2026-04-07"
    assert message.content[0].text.split()[0] == "Reginald"  # the fake read it as a system prompt


def test_it_streams_an_anthropic_upstreams_own_events(client, sonnet, key_a, upstream) -> None:
    request = {
        "model": SONNET,
        "max_tokens": 4000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": user("Tell me about gates"),
    }
    events = sse(post_messages(client, key_a, request))

    assert upstream.requests[-1]["body"]["stream"] is True
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["model"] == SONNET and start["id"].startswith("msg_01")
    deltas = [data["delta"]["type"] for name, data in events if name == "content_block_delta"]
    assert "signature_delta" in deltas  # passed on as the upstream sent it
    assert {"thinking_delta", "text_delta"} <= set(deltas)
    record = UsageRecord.objects.get()
    assert (record.stream, record.tokens_estimated) == (True, False)
    assert record.prompt_tokens == start["usage"]["input_tokens"]
    assert record.completion_tokens == events[-2][1]["usage"]["output_tokens"]


def test_it_replays_a_native_answer_as_it_came(client, sonnet, key_a, upstream) -> None:
    request = {"model": SONNET, "max_tokens": 100, "messages": user("hello")}
    first = post_messages(client, key_a, request, HTTP_IDEMPOTENCY_KEY="native-1")
    again = post_messages(client, key_a, request, HTTP_IDEMPOTENCY_KEY="native-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["usage"]["service_tier"] == "standard"  # the upstream's own message
    assert len(upstream.requests) == 1


def test_it_ends_a_native_stream_that_reports_an_error_with_an_error_event(
    client, sonnet, key_a
) -> None:
    request = {"model": SONNET, "max_tokens": 100, "stream": True, "messages": user("hi [[error_200:4]]")}  # fmt: skip
    events = sse(post_messages(client, key_a, request))

    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert UsageRecord.objects.get().status == 502


def test_it_fails_over_from_an_overloaded_anthropic_upstream_before_the_first_byte(
    anthropic_client, sonnet, upstream
) -> None:
    upstream.configure(status=529, status_times=1)
    with anthropic_client.messages.stream(
        model=SONNET, max_tokens=100, messages=user("[[reply:made it]]")
    ) as stream:
        text = "".join(stream.text_stream)

    assert text == "made it"
    assert [r["path"] for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]


# --- the same model through either kind of deployment -------------------------------------------


def comparable(message) -> dict:
    """What must agree whichever deployment answered (ids and signatures are the upstream's)."""
    blocks = [
        block.model_dump(exclude={"id", "signature", "citations", "caller"}, exclude_none=True)
        for block in message.content
    ]
    usage = (message.usage.input_tokens, message.usage.output_tokens)
    return {
        "content": blocks,
        "stop": (message.stop_reason, message.stop_sequence),
        "usage": usage,
        "model": message.model,
    }


CASES = {
    "plain": {"messages": user("Tell me about gates")},
    "system": {"system": "You are Reginald the butler.", "messages": user("hello")},
    "tools": {"messages": user("Weather in Bern?"), "tools": [WEATHER]},
    "tool result": {
        "messages": [
            *user("Weather in Bern?"),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {"city": "Bern"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_7", "content": "Sunny"}]},
        ],
        "tools": [WEATHER],
    },
    "thinking": {"thinking": {"type": "enabled", "budget_tokens": 2048}, "messages": user("Think")},
    "stop": {"stop_sequences": ["is"], "messages": user("[[reply:The answer is 42.]]")},
    "max_tokens": {"max_tokens": 3, "messages": user("Tell me about gates")},
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_it_answers_the_same_through_an_openai_and_an_anthropic_deployment(
    anthropic_client, sonnet, upstream, case
) -> None:
    request = {"model": SONNET, "max_tokens": 4000, **case}
    native = anthropic_client.messages.create(**request, extra_headers=NATIVE)
    translated = anthropic_client.messages.create(**request, extra_headers=TRANSLATED)

    assert [r["path"] for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]
    assert comparable(translated) == comparable(native)

    with anthropic_client.messages.stream(**request, extra_headers=NATIVE) as stream:
        native_stream = stream.get_final_message()
    with anthropic_client.messages.stream(**request, extra_headers=TRANSLATED) as stream:
        translated_stream = stream.get_final_message()
    assert comparable(native_stream) == comparable(translated_stream) == comparable(native)


# --- OpenAI clients: translation to Anthropic's format ------------------------------------------


def test_it_lets_an_openai_client_call_an_anthropic_backed_model(
    openai_client, sonnet, upstream
) -> None:
    messages = [
        {"role": "system", "content": "You are Reginald."},
        {"role": "user", "content": "Greet me [[reply:Good day, sir.]]"},
    ]
    completion = openai_client.chat.completions.create(
        model="sonnet", messages=messages, max_tokens=50, extra_headers=NATIVE
    )

    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"] == {
        "model": "claude-sonnet-4-6",
        "messages": [{"role": "user", "content": "Greet me [[reply:Good day, sir.]]"}],
        "system": "You are Reginald.",
        "max_tokens": 50,
    }
    assert completion.object == "chat.completion" and completion.model == "sonnet"
    assert completion.choices[0].message.content == "Good day, sir."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == fake_prompt_tokens("anthropic", sent["body"])
    assert completion.usage.completion_tokens == count_tokens("Good day, sir.")
    assert not [name for name in completion.model_dump() if name.startswith("_")]


def test_it_streams_an_anthropic_backed_model_to_an_openai_client(
    openai_client, sonnet, upstream
) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="sonnet",
            messages=user("Tell me about gates"),
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=NATIVE,
        )
    )

    assert upstream.requests[-1]["body"]["stream"] is True
    assert upstream.requests[-1]["body"]["max_tokens"] == 4096  # Anthropic requires one
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 12
    assert all(c.object == "chat.completion.chunk" and c.model == "sonnet" for c in chunks)
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert [c for c in chunks if c.usage] == [chunks[-1]]
    assert chunks[-1].usage.completion_tokens == 12
    record = UsageRecord.objects.get()
    assert (record.dialect, record.completion_tokens, record.tokens_estimated) == (
        "openai",
        12,
        False,
    )


def test_it_round_trips_an_openai_tool_call_through_an_anthropic_upstream(
    openai_client, sonnet, upstream
) -> None:
    messages = user("Weather in Bern?")
    first = openai_client.chat.completions.create(
        model="sonnet", messages=messages, tools=[OPENAI_TOOL], tool_choice="required",
        parallel_tool_calls=False, extra_headers=NATIVE,
    )  # fmt: skip

    sent = upstream.requests[-1]["body"]
    assert sent["tools"] == [WEATHER]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "sample"},
    )

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny"},
    ]
    second = openai_client.chat.completions.create(
        model="sonnet", messages=messages, tools=[OPENAI_TOOL], extra_headers=NATIVE
    )

    assert second.choices[0].message.content == "The tool returned: Sunny"
    sent = upstream.requests[-1]["body"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "sample"}}],
    }  # fmt: skip
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}],
    }


def test_it_streams_tool_calls_and_reasoning_to_an_openai_client(
    openai_client, sonnet, upstream
) -> None:
    chunks = list(
        openai_client.chat.completions.create(
            model="sonnet", messages=user("Weather?"), tools=[OPENAI_TOOL], reasoning_effort="medium",
            max_tokens=100, stream=True, extra_headers=NATIVE,
        )
    )  # fmt: skip

    sent = upstream.requests[-1]["body"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert sent["max_tokens"] == 4196  # room for the answer on top of the thinking budget
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(d.model_extra.get("reasoning_content") or "" for d in deltas)
    assert reasoning.startswith("Thinking it over:")
    calls = [call for d in deltas for call in d.tool_calls or ()]
    assert calls[0].id.startswith("toolu_") and calls[0].function.name == "get_weather"
    assert json.loads("".join(c.function.arguments or "" for c in calls)) == {"city": "sample"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_it_sends_images_from_an_openai_client_as_anthropic_image_blocks(
    openai_client, sonnet, upstream
) -> None:
    png = "iVBORw0KGgo="
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    openai_client.chat.completions.create(
        model="sonnet", messages=user(content), temperature=1.7, extra_headers=NATIVE
    )

    sent = upstream.requests[-1]["body"]
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    assert sent["temperature"] == 1.0  # Anthropic's range ends at 1
