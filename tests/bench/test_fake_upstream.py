"""The fake upstream, driven by the official OpenAI and Anthropic SDKs and by plain HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
import requests

from bench.fake_upstream import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    FakeUpstream,
    count_tokens,
    embedding,
    prompt_tokens_for,
)

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = "claude-haiku-4-5"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "precise": {"type": "boolean"},
    },
    "required": ["city"],
}
WEATHER_ARGS = {"city": "sample", "days": 1, "unit": "celsius", "precise": True}


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def up(shared: FakeUpstream) -> Iterator[FakeUpstream]:
    shared.reset()
    yield shared
    shared.reset()


@pytest.fixture
def oai(up: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=up.url + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(up: FakeUpstream) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=up.url, api_key="sk-ant-test", max_retries=0)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def sse_data(response: requests.Response) -> list[str]:
    return [
        line[6:] for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")
    ]


# --------------------------------------------------------------------------- tokenizer


def test_it_counts_tokens_with_the_documented_regex() -> None:
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("  don't  stop_now 42 ") == 5  # don ' t stop_now 42
    assert MESSAGE_OVERHEAD == 3
    assert IMAGE_TOKENS == 85


# --------------------------------------------------------------------------- OpenAI


def test_it_answers_openai_chat_with_honest_usage(up: FakeUpstream, oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *user("hello there")]
    first = oai.chat.completions.create(model="llama3.2", messages=messages)
    again = oai.chat.completions.create(model="llama3.2", messages=messages)

    assert first.id.startswith("chatcmpl-") and first.id != again.id
    assert first.object == "chat.completion"
    assert first.model == "llama3.2"
    assert first.system_fingerprint.startswith("fp_")
    assert first.created > 1_700_000_000
    text = first.choices[0].message.content
    assert text == again.choices[0].message.content
    assert text.split()[0] == "brief"  # the longest word of the system prompt leads the reply
    assert first.choices[0].finish_reason == "stop"
    assert first.usage.prompt_tokens == (3 + 3) + (3 + 2)
    assert first.usage.completion_tokens == count_tokens(text) == 12
    assert first.usage.total_tokens == 23
    recorded = up.requests[-1]
    assert recorded["path"] == "/v1/chat/completions"
    assert recorded["body"]["messages"] == messages
    assert recorded["headers"]["authorization"] == "Bearer sk-test"


def test_it_streams_openai_chat_with_a_final_usage_chunk(oai: openai.OpenAI) -> None:
    plain = oai.chat.completions.create(model="qwen2.5:7b", messages=user("stream me"))
    chunks = list(
        oai.chat.completions.create(
            model="qwen2.5:7b",
            messages=user("stream me"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(include={"prompt_tokens", "completion_tokens"}) == {
        "prompt_tokens": plain.usage.prompt_tokens,
        "completion_tokens": plain.usage.completion_tokens,
    }
    assert all(c.usage is None for c in chunks[:-1])


def test_it_calls_a_tool_then_answers_with_its_result(oai: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    call = oai.chat.completions.create(model="llama3.2", messages=user("weather?"), tools=tools)
    choice = call.choices[0]
    assert choice.finish_reason == "tool_calls"
    tool_call = choice.message.tool_calls[0]
    assert tool_call.id.startswith("call_") and tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == WEATHER_ARGS

    streamed = list(
        oai.chat.completions.create(
            model="llama3.2", messages=user("weather?"), tools=tools, stream=True
        )
    )
    deltas = [d for c in streamed for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == WEATHER_ARGS
    assert streamed[-1].choices[0].finish_reason == "tool_calls"

    follow_up = [
        *user("weather?"),
        {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump()]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": "sunny and 21C"},
    ]
    answer = oai.chat.completions.create(model="llama3.2", messages=follow_up, tools=tools)
    assert answer.choices[0].finish_reason == "stop"
    assert "sunny and 21C" in answer.choices[0].message.content

    none = oai.chat.completions.create(
        model="llama3.2", messages=user("weather?"), tools=tools, tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None


def test_it_returns_json_for_response_format(oai: openai.OpenAI) -> None:
    loose = oai.chat.completions.create(
        model="llama3.2", messages=user("json please"), response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(loose.choices[0].message.content), dict)
    strict = oai.chat.completions.create(
        model="llama3.2",
        messages=user("json please"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA},
        },
    )
    assert json.loads(strict.choices[0].message.content) == WEATHER_ARGS


def test_it_honours_max_tokens_stop_sequences_and_forced_replies(
    oai: openai.OpenAI, claude: anthropic.Anthropic, up: FakeUpstream
) -> None:
    cut = oai.chat.completions.create(model="llama3.2", messages=user("long"), max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens == count_tokens(cut.choices[0].message.content) == 5
    newer = oai.chat.completions.create(
        model="llama3.2", messages=user("long"), max_completion_tokens=3
    )
    assert newer.usage.completion_tokens == 3

    forced = "[[reply:The answer is 42. Done here.]]"
    exact = oai.chat.completions.create(model="llama3.2", messages=user(forced))
    assert exact.choices[0].message.content == "The answer is 42. Done here."
    stopped = oai.chat.completions.create(model="llama3.2", messages=user(forced), stop=[" 42"])
    assert stopped.choices[0].message.content == "The answer is"
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].model_extra["stop_reason"] == " 42"  # as vLLM says which matched
    assert stopped.usage.completion_tokens == 3

    message = claude.messages.create(
        model=CLAUDE, max_tokens=100, messages=user(forced), stop_sequences=["Done"]
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "Done"
    assert message.content[0].text == "The answer is 42. "
    short = claude.messages.create(model=CLAUDE, max_tokens=2, messages=user(forced))
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 2

    ollama = requests.post(
        up.url + "/api/chat",
        json={
            "model": "llama3.2",
            "messages": user(forced),
            "stream": False,
            "options": {"num_predict": 4},
        },
    ).json()
    assert ollama["message"]["content"] == "The answer is 42"
    assert ollama["done_reason"] == "length" and ollama["eval_count"] == 4


def test_it_returns_reasoning_content_when_asked(oai: openai.OpenAI) -> None:
    asked = oai.chat.completions.create(
        model="llama3.2", messages=user("think"), reasoning_effort="low"
    )
    reasoning = asked.choices[0].message.reasoning_content
    assert reasoning and asked.choices[0].message.content
    details = asked.usage.completion_tokens_details
    assert details.reasoning_tokens == count_tokens(reasoning)
    assert asked.usage.completion_tokens == 12 + details.reasoning_tokens
    by_name = list(
        oai.chat.completions.create(model="deepseek-reasoner", messages=user("think"), stream=True)
    )
    streamed = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in by_name
    )
    assert streamed == reasoning
    plain = oai.chat.completions.create(model="llama3.2", messages=user("think"))
    assert getattr(plain.choices[0].message, "reasoning_content", None) is None


def test_it_serves_legacy_completions(oai: openai.OpenAI) -> None:
    done = oai.completions.create(model="llama3.2", prompt="Once upon a time", max_tokens=5)
    assert done.id.startswith("cmpl-") and done.object == "text_completion"
    assert done.choices[0].finish_reason == "length"
    assert done.usage.prompt_tokens == 4 and done.usage.completion_tokens == 5
    chunks = list(
        oai.completions.create(
            model="llama3.2",
            prompt="Once upon a time",
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == done.choices[0].text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5


def test_it_embeds_inputs_as_deterministic_unit_vectors(
    oai: openai.OpenAI, up: FakeUpstream
) -> None:
    default = oai.embeddings.create(model="nomic-embed-text", input=["a b c", "d"])  # base64
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input="a b c", encoding_format="float"
    )
    assert default.usage.prompt_tokens == 4
    first = default.data[0].embedding
    assert len(first) == 16
    assert sum(v * v for v in first) == pytest.approx(1.0, abs=1e-5)
    assert first == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.data[1].embedding != pytest.approx(first)
    wide = oai.embeddings.create(
        model="nomic-embed-text", input="a b c", dimensions=64, encoding_format="float"
    )
    assert len(wide.data[0].embedding) == 64

    native = requests.post(
        up.url + "/api/embed", json={"model": "nomic-embed-text", "input": ["a b c", "d"]}
    ).json()
    assert native["embeddings"][0] == pytest.approx(list(embedding("a b c")))
    assert native["prompt_eval_count"] == 4


def test_it_lists_models_and_404s_unknown_ones(oai: openai.OpenAI, up: FakeUpstream) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"llama3.2", "qwen2.5:7b", "glm-4.5-air", "nomic-embed-text"} <= ids
    assert oai.models.retrieve("glm-4.5-air").object == "model"
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="no-such-model", messages=user("hi"))
    error = caught.value.body
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert "no-such-model" in error["message"] and "param" in error
    native = requests.post(up.url + "/api/chat", json={"model": "nope", "messages": user("x")})
    assert native.status_code == 404
    assert native.json() == {"error": 'model "nope" not found, try pulling it first'}


def test_it_counts_images_as_a_fixed_number_of_tokens(
    oai: openai.OpenAI, claude: anthropic.Anthropic, up: FakeUpstream
) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": image}},
    ]
    seen = oai.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": content}]
    )
    assert seen.usage.prompt_tokens == 3 + 3 + IMAGE_TOKENS
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}
    counted = claude.messages.count_tokens(
        model=CLAUDE,
        messages=[{"role": "user", "content": [{"type": "text", "text": "what is this"}, block]}],
    )
    assert counted.input_tokens == 3 + 3 + IMAGE_TOKENS
    native = requests.post(
        up.url + "/api/generate",
        json={
            "model": "llama3.2",
            "prompt": "what is this",
            "images": ["iVBORw0KGgo="],
            "stream": False,
        },
    ).json()
    assert native["prompt_eval_count"] == 3 + 3 + IMAGE_TOKENS


# --------------------------------------------------------------------------- Anthropic


def test_it_answers_anthropic_messages(claude: anthropic.Anthropic, oai: openai.OpenAI) -> None:
    message = claude.messages.create(
        model=CLAUDE, max_tokens=100, system="Be brief.", messages=user("hello there")
    )
    assert message.id.startswith("msg_") and message.type == "message"
    assert message.model == CLAUDE and message.role == "assistant"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens == (3 + 3) + (3 + 2)
    assert message.usage.output_tokens == count_tokens(message.content[0].text) == 12
    same = oai.chat.completions.create(
        model="llama3.2",
        messages=[{"role": "system", "content": "Be brief."}, *user("hello there")],
    )
    assert message.content[0].text == same.choices[0].message.content


def test_it_takes_anthropic_system_messages_inside_messages(claude: anthropic.Anthropic) -> None:
    """Mid-conversation system messages: text ones act as a system prompt; others are refused
    in Anthropic's words."""
    system = {"role": "system", "content": [{"type": "text", "text": "Reginald speaks."}]}
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[*user("hello there"), system]
    )
    assert message.content[0].text.split()[0] == "Reginald"

    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=50,
            messages=[*user("hi"), {"role": "system", "content": [image]}],
        )
    assert 'Unexpected role "system"' in caught.value.body["error"]["message"]


def test_it_streams_anthropic_text_with_final_usage(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=CLAUDE, max_tokens=100, messages=user("hi")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text and len(text.split()) == 12
    assert final.usage.input_tokens == 4 and final.usage.output_tokens == 12
    assert final.stop_reason == "end_turn"


def test_it_streams_anthropic_tool_use_as_input_json_deltas(
    claude: anthropic.Anthropic, up: FakeUpstream
) -> None:
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    with claude.messages.stream(
        model=CLAUDE, max_tokens=100, tools=tools, messages=user("weather?")
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert {d.type for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d.partial_json for d in deltas)) == WEATHER_ARGS
    assert final.stop_reason == "tool_use"
    tool_use = final.content[0]
    assert tool_use.type == "tool_use" and tool_use.id.startswith("toolu_")
    assert tool_use.input == WEATHER_ARGS

    raw = requests.post(
        up.url + "/v1/messages",
        json={"model": CLAUDE, "max_tokens": 50, "stream": True, "messages": user("hi")},
    )
    names = [line[7:] for line in raw.iter_lines(decode_unicode=True) if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]

    follow_up = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": [tool_use.model_dump(include={"type", "id", "name", "input"})],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "rainy"}],
        },
    ]
    answer = claude.messages.create(model=CLAUDE, max_tokens=100, tools=tools, messages=follow_up)
    assert answer.stop_reason == "end_turn" and "rainy" in answer.content[0].text


def test_it_thinks_before_answering_when_asked(claude: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with claude.messages.stream(
        model=CLAUDE, max_tokens=2000, thinking=thinking, messages=user("ponder")
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    delta_types = {e.delta.type for e in events if e.type == "content_block_delta"}
    assert {"thinking_delta", "signature_delta", "text_delta"} <= delta_types
    thought, answer = final.content
    assert thought.type == "thinking" and thought.thinking and thought.signature
    assert answer.type == "text"
    assert final.usage.output_tokens == count_tokens(thought.thinking) + 12
    plain = claude.messages.create(
        model=CLAUDE, max_tokens=2000, thinking=thinking, messages=user("ponder")
    )
    assert [b.type for b in plain.content] == ["thinking", "text"]
    assert plain.content[0].signature == thought.signature


def test_it_counts_anthropic_tokens_like_usage(claude: anthropic.Anthropic) -> None:
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    kwargs = {"model": CLAUDE, "system": "You are terse.", "tools": tools, "messages": user("hi")}
    counted = claude.messages.count_tokens(**kwargs)
    used = claude.messages.create(max_tokens=100, **kwargs)
    assert counted.input_tokens == used.usage.input_tokens > 3 + 3 + 4 + 1
    assert prompt_tokens_for("anthropic", kwargs) == counted.input_tokens


def test_it_raises_not_found_for_unknown_anthropic_models(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="claude-nope", max_tokens=10, messages=user("x"))
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "claude-nope" in body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model=CLAUDE, max_tokens=10, messages=[])


# --------------------------------------------------------------------------- Ollama


def test_it_lists_ollama_tags_and_version(up: FakeUpstream) -> None:
    tags = requests.get(up.url + "/api/tags").json()["models"]
    names = {m["name"] for m in tags}
    assert {
        "llama3.2:latest",
        "qwen2.5:7b",
        "glm-4.5-air:latest",
        "nomic-embed-text:latest",
    } <= names
    entry = next(m for m in tags if m["name"] == "qwen2.5:7b")
    assert entry["details"]["family"] == "qwen2" and len(entry["digest"]) == 64
    assert requests.get(up.url + "/api/version").json()["version"]
    assert requests.get(up.url + "/").text == "Ollama is running"


def test_it_streams_ollama_chat_as_ndjson(up: FakeUpstream) -> None:
    response = requests.post(
        up.url + "/api/chat", json={"model": "llama3.2", "messages": user("hi ollama")}, stream=True
    )
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["transfer-encoding"] == "chunked"
    lines = [json.loads(line) for line in response.iter_lines() if line]
    assert all(not line["done"] for line in lines[:-1])
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    text = "".join(line["message"]["content"] for line in lines)
    assert final["eval_count"] == count_tokens(text) == 12
    assert final["prompt_eval_count"] == 3 + 2
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    assert final["model"] == "llama3.2" and final["created_at"].endswith("Z")


def test_it_generates_with_ollama(up: FakeUpstream) -> None:
    whole = requests.post(
        up.url + "/api/generate",
        json={"model": "qwen2.5:7b", "prompt": "Why is the sky blue?", "stream": False},
    ).json()
    assert whole["done"] is True and whole["eval_count"] == 12
    assert whole["prompt_eval_count"] == 3 + count_tokens("Why is the sky blue?")
    lines = [
        json.loads(line)
        for line in requests.post(
            up.url + "/api/generate",
            json={"model": "qwen2.5:7b", "prompt": "Why is the sky blue?"},
            stream=True,
        ).iter_lines()
        if line
    ]
    assert "".join(line["response"] for line in lines) == whole["response"]
    assert lines[-1]["done"] and lines[-1]["context"]
    as_json = requests.post(
        up.url + "/api/generate",
        json={"model": "qwen2.5:7b", "prompt": "json", "format": "json", "stream": False},
    ).json()
    assert isinstance(json.loads(as_json["response"]), dict)


def test_it_creates_shows_chats_with_and_deletes_a_model(
    up: FakeUpstream, oai: openai.OpenAI
) -> None:
    spec = {
        "model": "mario",
        "from": "llama3.2",
        "system": "You are Mario from Super Mario Bros.",
        "parameters": {"temperature": 0.2, "num_ctx": 4096},
        "messages": [
            {"role": "user", "content": "Who are you?"},
            {"role": "assistant", "content": "Mario!"},
        ],
    }
    created = requests.post(up.url + "/api/create", json=spec)
    statuses = [json.loads(line)["status"] for line in created.iter_lines() if line]
    assert statuses[-1] == "success"
    assert "mario:latest" in {
        m["name"] for m in requests.get(up.url + "/api/tags").json()["models"]
    }

    shown = requests.post(up.url + "/api/show", json={"model": "mario"}).json()
    assert shown["system"] == spec["system"]
    assert shown["details"]["parent_model"] == "llama3.2:latest"
    assert shown["model_info"]["llama.context_length"] == 4096
    assert "temperature" in shown["parameters"] and shown["template"]

    reply = requests.post(
        up.url + "/api/chat",
        json={"model": "mario", "messages": user("hello"), "stream": False},
    ).json()
    assert reply["message"]["content"].split()[0] == "Mario"  # the created model's system applies
    system_cost = 3 + count_tokens(spec["system"])
    few_shot = (3 + 4) + (3 + 2)  # "Who are you?" and "Mario!"
    assert reply["prompt_eval_count"] == system_cost + few_shot + (3 + 1)
    predicted = {"model": "mario", "messages": user("hello")}
    assert prompt_tokens_for("ollama_chat", predicted, up.state) == reply["prompt_eval_count"]
    assert up.requests[-1]["system"] == spec["system"]
    compat = oai.chat.completions.create(model="mario", messages=user("hello"))
    assert compat.choices[0].message.content == reply["message"]["content"]

    assert requests.delete(up.url + "/api/delete", json={"model": "mario"}).status_code == 200
    gone = requests.post(up.url + "/api/show", json={"model": "mario"})
    assert gone.status_code == 404 and "error" in gone.json()
    again = requests.post(up.url + "/api/chat", json={"model": "mario", "messages": user("x")})
    assert again.status_code == 404
    assert requests.delete(up.url + "/api/delete", json={"model": "mario"}).status_code == 404


# --------------------------------------------------------------------------- faults


def test_it_drops_the_connection_after_n_stream_events(up: FakeUpstream) -> None:
    response = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "stream": True, "messages": user("go [[drop_after:3]]")},
        stream=True,
    )
    received = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                received.append(line)
    assert len(received) == 3
    record = up.wait_for(lambda rs: rs and rs[-1]["dropped"] and rs[-1])
    assert record["events_sent"] == 3 and not record["completed"]
    assert record["directives"] == ["drop_after"]


def test_it_returns_errors_in_each_api_format(up: FakeUpstream) -> None:
    openai_error = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("x [[status:500]]")},
    )
    assert openai_error.status_code == 500
    assert set(openai_error.json()["error"]) == {"message", "type", "param", "code"}
    assert openai_error.json()["error"]["type"] == "server_error"

    limited = requests.post(
        up.url + "/v1/messages",
        json={
            "model": CLAUDE,
            "max_tokens": 5,
            "messages": user("x [[status:429]] [[retry_after:7]]"),
        },
    )
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert limited.json()["type"] == "error"
    assert limited.json()["error"]["type"] == "rate_limit_error"

    overloaded = requests.post(
        up.url + "/api/generate",
        json={"model": "llama3.2", "prompt": "x [[status:503]]", "stream": False},
    )
    assert overloaded.status_code == 503 and isinstance(overloaded.json()["error"], str)

    unauthorized = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("x [[status:401]]")},
    )
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"


def test_it_waits_before_headers_for_latency(up: FakeUpstream) -> None:
    started = time.perf_counter()
    response = requests.post(
        up.url + "/api/chat",
        json={"model": "llama3.2", "messages": user("slow [[latency:250]]"), "stream": False},
    )
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.25


def test_it_returns_garbage_and_in_band_errors(up: FakeUpstream) -> None:
    garbage = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("x [[garbage]]")},
    )
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()

    hidden = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("x [[error_200]]")},
    )
    assert hidden.status_code == 200 and "error" in hidden.json()

    streamed = requests.post(
        up.url + "/v1/messages",
        json={
            "model": CLAUDE,
            "max_tokens": 50,
            "stream": True,
            "messages": user("x [[error_200:2]]"),
        },
    )
    lines = [line for line in streamed.iter_lines(decode_unicode=True) if line]
    assert lines[-2] == "event: error"
    assert json.loads(lines[-1][6:])["error"]["type"] == "overloaded_error"


def test_it_omits_usage_when_asked(up: FakeUpstream) -> None:
    plain = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("x [[no_usage]]")},
    ).json()
    assert "usage" not in plain and plain["choices"][0]["message"]["content"]
    streamed = requests.post(
        up.url + "/v1/chat/completions",
        json={
            "model": "llama3.2",
            "messages": user("x [[no_usage]]"),
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    chunks = [json.loads(d) for d in sse_data(streamed) if d != "[DONE]"]
    assert all("usage" not in c for c in chunks) and chunks[-1]["choices"]
    ollama = requests.post(
        up.url + "/api/chat",
        json={"model": "llama3.2", "messages": user("x [[no_usage]]"), "stream": False},
    ).json()
    assert "eval_count" not in ollama and "prompt_eval_count" not in ollama


def test_it_stalls_and_records_the_client_leaving(up: FakeUpstream) -> None:
    response = requests.post(
        up.url + "/api/chat",
        json={"model": "llama3.2", "messages": user("hang [[stall_after:2]]")},
        stream=True,
        timeout=(2, 0.3),
    )
    lines = response.iter_lines()
    assert json.loads(next(lines))["done"] is False
    assert json.loads(next(lines))["done"] is False
    with pytest.raises(requests.exceptions.ConnectionError):  # read timeout while stalled
        next(lines)
    assert up.requests[-1]["stalled"] and not up.requests[-1]["disconnected"]
    response.close()
    record = up.wait_for(lambda rs: rs[-1]["disconnected"] and rs[-1])
    assert record["events_sent"] == 2 and not record["completed"]


def test_it_notices_a_client_that_disconnects_mid_stream(up: FakeUpstream) -> None:
    body = {"model": "llama3.2", "stream": True, "messages": user("slow [[chunk_delay:50]]")}
    with socket.create_connection(("127.0.0.1", up.port)) as sock:
        payload = json.dumps(body).encode()
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    record = up.wait_for(lambda rs: rs[-1]["disconnected"] and rs[-1])
    assert record and not record["completed"] and record["events_sent"] < 14


# --------------------------------------------------------------------------- control API


def test_it_requires_keys_and_forces_status_per_key(up: FakeUpstream) -> None:
    config = requests.post(
        up.url + "/_fake/config",
        json={"require_keys": ["k1", "k2"], "key_status": {"k2": 429}},
    ).json()
    assert config["require_keys"] == ["k1", "k2"]
    chat = {"model": "llama3.2", "messages": user("hi")}

    missing = requests.post(up.url + "/v1/chat/completions", json=chat)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    wrong = requests.post(
        up.url + "/v1/messages", json={**chat, "max_tokens": 5}, headers={"x-api-key": "k9"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "authentication_error"
    ollama = requests.get(up.url + "/api/tags", headers={"Authorization": "Bearer nope"})
    assert ollama.status_code == 401 and ollama.json() == {"error": "unauthorized"}

    ok = requests.post(
        up.url + "/v1/chat/completions", json=chat, headers={"Authorization": "Bearer k1"}
    )
    assert ok.status_code == 200
    limited = requests.post(
        up.url + "/v1/chat/completions", json=chat, headers={"Authorization": "Bearer k2"}
    )
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"

    requests.post(up.url + "/_fake/config", json={"reset": True})
    assert requests.post(up.url + "/v1/chat/completions", json=chat).status_code == 200
    assert requests.post(up.url + "/_fake/config", json={"bogus": 1}).status_code == 400


def test_it_fails_a_whole_instance_then_recovers(up: FakeUpstream) -> None:
    up.configure(status=503, status_times=2)
    chat = {"model": "llama3.2", "messages": user("hi"), "stream": False}
    codes = [requests.post(up.url + "/api/chat", json=chat).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    up.configure(status=500)
    assert requests.get(up.url + "/v1/models").status_code == 500
    up.configure(status=None, latency_ms=100)
    started = time.perf_counter()
    assert requests.get(up.url + "/v1/models").status_code == 200
    assert time.perf_counter() - started >= 0.1


def test_it_records_and_clears_requests(up: FakeUpstream) -> None:
    requests.post(
        up.url + "/api/generate", json={"model": "llama3.2", "prompt": "one", "stream": False}
    )
    requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": user("two")},
        headers={"X-Trace": "abc"},
    )
    recorded = requests.get(up.url + "/_fake/requests").json()
    assert [r["path"] for r in recorded] == ["/api/generate", "/v1/chat/completions"]
    last = recorded[-1]
    assert last["method"] == "POST" and last["headers"]["x-trace"] == "abc"
    assert last["body"]["messages"] == user("two") and last["status"] == 200
    assert last["completed"] and not last["disconnected"]
    assert requests.get(up.url + "/_fake/requests?limit=1").json()[0]["id"] == last["id"]
    assert requests.delete(up.url + "/_fake/requests").json() == {"cleared": 2}
    assert up.requests == []


def test_it_runs_separate_instances_side_by_side() -> None:
    with FakeUpstream() as healthy, FakeUpstream(status=500) as broken, FakeUpstream() as third:
        assert len({healthy.port, broken.port, third.port}) == 3
        chat = {"model": "llama3.2", "messages": user("hi")}
        assert requests.post(healthy.url + "/v1/chat/completions", json=chat).status_code == 200
        assert requests.post(broken.url + "/v1/chat/completions", json=chat).status_code == 500
        third.configure(require_keys=["only"])
        assert requests.post(third.url + "/v1/chat/completions", json=chat).status_code == 401
        assert len(healthy.requests) == len(broken.requests) == len(third.requests) == 1


# --------------------------------------------------------------------------- HTTP details


def _read_response(sock_file) -> tuple[bytes, bytes]:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock_file.readline()
    length = int(
        next(
            v
            for k, v in (line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
            if k.lower() == b"content-length"
        )
    )
    return head, sock_file.read(length)


def test_it_keeps_connections_alive_and_reads_chunked_bodies(up: FakeUpstream) -> None:
    body = json.dumps({"model": "llama3.2", "messages": user("chunked body")}).encode()
    half = len(body) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
        half,
        body[:half],
        len(body) - half,
        body[half:],
    )
    with socket.create_connection(("127.0.0.1", up.port)) as sock, sock.makefile("rb") as reader:
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
        head, first = _read_response(reader)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(first)["version"]
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked
        )
        head, second = _read_response(reader)
        assert head.startswith(b"HTTP/1.1 200")
        assert json.loads(second)["usage"]["prompt_tokens"] == 3 + 2


def test_it_rejects_malformed_json_with_400(up: FakeUpstream) -> None:
    headers = {"Content-Type": "application/json"}
    openai_bad = requests.post(up.url + "/v1/chat/completions", data=b"{nope", headers=headers)
    assert (
        openai_bad.status_code == 400
        and openai_bad.json()["error"]["type"] == "invalid_request_error"
    )
    anthropic_bad = requests.post(up.url + "/v1/messages", data=b"{nope", headers=headers)
    assert anthropic_bad.status_code == 400 and anthropic_bad.json()["type"] == "error"
    ollama_bad = requests.post(up.url + "/api/chat", data=b"{nope", headers=headers)
    assert ollama_bad.status_code == 400 and "error" in ollama_bad.json()
    assert up.requests[-1]["body_text"] == "{nope"


def test_it_runs_from_the_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_upstream", "--port", "0", "--host", "127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("fake upstream listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[-1].strip()
        assert requests.get(url + "/api/version", timeout=5).status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
        process.stdout.close()


def test_it_closes_to_end_streams_for_http_10_and_when_configured(up: FakeUpstream) -> None:
    payload = json.dumps({"model": "llama3.2", "messages": user("close me")}).encode()
    for version, config in ((b"HTTP/1.0", {}), (b"HTTP/1.1", {"close_delimited": True})):
        up.configure(config)
        with socket.create_connection(("127.0.0.1", up.port)) as sock:
            sock.sendall(
                b"POST /api/chat "
                + version
                + b"\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
            )
            data = b""
            while chunk := sock.recv(65536):  # the server closes the connection at the end
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding" not in head and b"Connection: close" in head
        lines = [json.loads(line) for line in body.splitlines()]
        assert len(lines) == 13 and lines[-1]["done"] is True


def test_it_applies_its_configured_directives_to_every_request(up: FakeUpstream) -> None:
    """One instance misbehaves for every prompt while another, sent the same one, does not."""
    up.configure(directives="[[garbage]]")
    broken = requests.post(
        up.url + "/v1/chat/completions", json={"model": "llama3.2", "messages": user("hi")}
    )
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    assert up.requests[-1]["directives"] == ["garbage"]
    up.configure(directives="[[drop_after:0]]")
    dropped = requests.post(
        up.url + "/v1/chat/completions",
        json={"model": "llama3.2", "stream": True, "messages": user("hi [[tokens:5]]")},
        stream=True,
    )
    assert dropped.status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        dropped.content  # noqa: B018 - the headers came, then the connection closed
    assert up.requests[-1]["dropped"] and up.requests[-1]["events_sent"] == 0
    with pytest.raises(ValueError):
        up.configure(directives=["[[garbage]]"])
    up.configure(directives="")
    assert requests.post(
        up.url + "/v1/chat/completions", json={"model": "llama3.2", "messages": user("hi")}
    ).json()["choices"]
