"""Translation between Anthropic's Messages format and the canonical (OpenAI chat) shape, both
ways, for the blocks and options the SDK tests do not reach."""

from __future__ import annotations

import json

import pytest

from proxy.anthropic_format import NATIVE, NATIVE_EVENTS, error_type
from proxy.dialects.anthropic import StreamRenderer, message_of, to_canonical
from proxy.errors import ApiError
from proxy.providers.anthropic import to_anthropic, to_chunks, to_result

PDF = "JVBERi0xLjQK"


def request(**extra) -> dict:
    return {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


def user_blocks(*blocks) -> dict:
    return request(messages=[{"role": "user", "content": list(blocks)}])


# --- Anthropic request → canonical --------------------------------------------------------------


def test_it_keeps_the_clients_body_and_maps_the_options() -> None:
    body = request(
        temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["END"], stream=True,
        metadata={"user_id": "u-1"}, tool_choice={"type": "any", "disable_parallel_tool_use": True},
        tools=[{"name": "t", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}],
    )  # fmt: skip
    canonical = to_canonical(body)

    assert canonical[NATIVE] is body
    assert {k: v for k, v in canonical.items() if k not in ("messages", NATIVE)} == {
        "model": "m",
        "max_tokens": 10,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stream": True,
        "stop": ["END"],
        "tools": [
            {"type": "function", "function": {"name": "t", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "u-1",
    }  # the server tool (web_search) is for an Anthropic upstream only


def test_it_turns_documents_and_search_results_into_parts() -> None:
    canonical = to_canonical(
        user_blocks(
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
            {"type": "document", "title": "a.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "inner"}]}},
            {"type": "search_result", "source": "s", "title": "t", "content": [{"type": "text", "text": "found"}]},
        )
    )  # fmt: skip

    assert canonical["messages"][0]["content"] == [
        {"type": "text", "text": "plain"},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "text", "text": "inner"},
        {"type": "text", "text": "found"},
    ]  # fmt: skip


def test_it_puts_tool_results_first_and_their_images_in_the_user_turn() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}}
    canonical = to_canonical(
        user_blocks(
            {"type": "tool_result", "tool_use_id": "a", "content": [{"type": "text", "text": "chart:"}, image]},
            {"type": "tool_result", "tool_use_id": "b", "content": "done", "is_error": True},
            {"type": "text", "text": "Go on", "cache_control": {"type": "ephemeral"}},
        )
    )  # fmt: skip

    assert canonical["messages"] == [
        {"role": "tool", "tool_call_id": "a", "content": "chart:"},
        {"role": "tool", "tool_call_id": "b", "content": "done"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/chart.png"}},
                {"type": "text", "text": "Go on"},
            ],
        },
    ]


def test_it_leaves_earlier_thinking_and_server_blocks_out_of_the_canonical_messages() -> None:
    canonical = to_canonical(
        request(
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                    {"type": "text", "text": "Hello"},
                ]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "only", "signature": "s"}]},
            ]
        )
    )  # fmt: skip

    assert canonical["messages"][1:] == [{"role": "assistant", "content": "Hello"}]


@pytest.mark.parametrize(
    "thinking, output_config, effort",
    [
        ({"type": "disabled"}, None, None),
        ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
    ],
)
def test_it_maps_thinking_to_a_reasoning_effort(thinking, output_config, effort) -> None:
    extra = {"thinking": thinking} | ({"output_config": output_config} if output_config else {})
    assert to_canonical(request(**extra)).get("reasoning_effort") == effort


@pytest.mark.parametrize(
    "body, path",
    [
        (user_blocks({"type": "image", "source": {"type": "file", "file_id": "f"}}), "messages.0.content.0.source.type"),
        (user_blocks({"type": "image", "source": {"type": "base64", "media_type": "text/html", "data": "x"}}), "messages.0.content.0.source.media_type"),
        (user_blocks({"type": "tool_use", "id": "x", "name": "t", "input": {}}), "messages.0.content.0.type"),
        (user_blocks({"type": "tool_result", "content": "x"}), "messages.0.content.0.tool_use_id"),
        (request(messages=[{"role": "assistant", "content": [{"type": "tool_use", "id": "x", "name": "t", "input": []}]}]), "messages.0.content.0.input"),
        (request(messages=[]), "messages"),
        (request(metadata={"user_id": 7}), "metadata.user_id"),
        (request(stop_sequences="END"), "stop_sequences"),
        (request(model=""), "model"),
    ],
)  # fmt: skip
def test_it_names_the_field_of_a_fault(body, path) -> None:
    with pytest.raises(ApiError) as caught:
        to_canonical(body)
    assert (caught.value.status, caught.value.param) == (400, path)
    assert caught.value.message.startswith(f"{path}: ")


def test_count_tokens_needs_no_max_tokens() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert "max_tokens" not in to_canonical(body, need_max_tokens=False)


# --- canonical answer → Anthropic ---------------------------------------------------------------


def test_it_renders_a_native_answer_as_it_came_with_the_clients_model_name() -> None:
    native = {"id": "msg_01", "type": "message", "model": "claude-upstream", "content": []}
    result = {"model": "claude-asked", NATIVE: native, "usage": {"prompt_tokens": 4, "completion_tokens": 2}}  # fmt: skip

    message = message_of(result)

    assert message["model"] == "claude-asked" and message["id"] == "msg_01"
    assert message["usage"]["input_tokens"] == 4  # the upstream gave none: the gateway's count


def test_it_renders_reasoning_text_and_tool_calls_as_blocks() -> None:
    result = {
        "id": "chatcmpl-42",
        "model": "m",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": "Let me look.",
                    "reasoning": "Need the weather.",  # Ollama's name for it
                    "tool_calls": [{"id": "call_1", "function": {"name": "w", "arguments": "not json"}}],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4}},
    }  # fmt: skip

    message = message_of(result)

    assert message["id"] == "msg_chatcmpl42"
    assert message["content"] == [
        {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "w", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 6,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
        "output_tokens": 5,
    }


def events_of(frames: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for frame in frames:
        head, data = frame.decode().strip().split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def chunk(**delta) -> dict:
    return {"id": "c1", "model": "asked", "choices": [{"index": 0, "delta": delta}]}


def test_it_opens_a_block_per_kind_of_delta_in_a_stream() -> None:
    chunks = [
        chunk(role="assistant", reasoning_content="Hmm"),
        chunk(reasoning_content="."),
        chunk(content="Checking."),
        chunk(tool_calls=[{"index": 0, "id": "call_a", "function": {"name": "w", "arguments": '{"c"'}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": ':1}'}}]),
        chunk(tool_calls=[{"index": 1, "id": "call_b", "function": {"name": "v", "arguments": "{}"}}]),
        {"id": "c1", "model": "asked", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "c1", "model": "asked", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}},
    ]  # fmt: skip

    events = events_of(list(StreamRenderer(input_estimate=6).events(iter(chunks))))

    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [(b["type"], b.get("id")) for b in starts] == [
        ("thinking", None),
        ("text", None),
        ("tool_use", "call_a"),
        ("tool_use", "call_b"),
    ]
    assert [n for n, _ in events].count("content_block_stop") == 4
    assert [n for n, _ in events][:3] == ["message_start", "content_block_start", "ping"]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 6
    partial = [d["delta"]["partial_json"] for n, d in events if d.get("index") == 2 and n == "content_block_delta"]  # fmt: skip
    assert "".join(partial) == '{"c":1}'
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"]["input_tokens"] == 7


@pytest.mark.parametrize(
    "status, kind",
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "invalid_request_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
    ],
)
def test_it_names_errors_with_anthropics_types(status, kind) -> None:
    assert error_type(status) == kind


# --- canonical request → Anthropic (OpenAI clients, Anthropic upstreams) ------------------------


def test_it_translates_a_canonical_request_for_an_anthropic_upstream() -> None:
    body = {
        "model": "claude-x",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Weather in Bern and Chur?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Bern"}'}},
                {"id": "c2", "type": "function", "function": {"name": "w", "arguments": '{"city":"Chur"}'}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "Rain"}]},
            {"role": "user", "content": [{"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}"}}]},
        ],
        "max_completion_tokens": 100,
        "stop": "END",
        "user": "u-2",
        "tool_choice": {"type": "function", "function": {"name": "w"}},
        "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
    }  # fmt: skip

    payload = to_anthropic(body, stream=False)

    assert payload["system"] == "Be kind.\nBe brief."
    assert payload["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c1", "name": "w", "input": {"city": "Bern"}},
            {"type": "tool_use", "id": "c2", "name": "w", "input": {"city": "Chur"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "Sunny"},
            {"type": "tool_result", "tool_use_id": "c2", "content": "Rain"},
        ]},
        {"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
        ]},
    ]  # fmt: skip
    assert (payload["max_tokens"], payload["stop_sequences"]) == (100, ["END"])
    assert payload["metadata"] == {"user_id": "u-2"}
    assert payload["tool_choice"] == {"type": "tool", "name": "w"}
    assert payload["tools"] == [{"name": "w", "input_schema": {"type": "object"}}]
    assert "stream" not in payload


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
        {"type": "image_url", "image_url": {"url": "data:image/png,raw"}},
    ],
)
def test_it_refuses_content_an_anthropic_upstream_cannot_take(part) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [part]}]}
    with pytest.raises(ApiError) as caught:
        to_anthropic(body, stream=False)
    assert caught.value.status == 400
    assert caught.value.param.startswith("messages[0].content[0]")


def test_it_translates_an_anthropic_answer_with_its_stop_sequence_and_cache_usage() -> None:
    message = {
        "id": "msg_01",
        "model": "claude-x",
        "content": [{"type": "text", "text": "The answer "}],
        "stop_reason": "stop_sequence",
        "stop_sequence": "is",
        "usage": {"input_tokens": 3, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 7, "output_tokens": 2},
    }  # fmt: skip

    result = to_result(message)

    assert result["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "The answer "},
        "finish_reason": "stop",
        "stop_reason": "is",
    }
    assert result["usage"] == {
        "prompt_tokens": 15,
        "completion_tokens": 2,
        "total_tokens": 17,
        "prompt_tokens_details": {"cached_tokens": 7},
    }


def test_it_carries_every_native_event_on_the_chunks() -> None:
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "x", "usage": {"input_tokens": 4, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]  # fmt: skip

    native = list(to_chunks(iter(events), native=True))
    translated = list(to_chunks(iter(events), native=False))

    assert [e for c in native for e in c.get(NATIVE_EVENTS, ())] == events
    assert not [c for c in translated if NATIVE_EVENTS in c]
    assert [c["choices"][0]["delta"] for c in translated if c["choices"]][:2] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
    ]
    assert translated[-1]["usage"]["prompt_tokens"] == 4
    assert translated[-1]["usage"]["completion_tokens"] == 2
