"""The official openai SDK against the gateway, on both bases (/v1 and /api/v1)."""

from __future__ import annotations

import json
import re

import openai
import pytest

from bench.fake_upstream import IMAGE_TOKENS, MESSAGE_OVERHEAD, count_tokens, embedding
from bench.fake_upstream import prompt_tokens_for as fake_prompt_tokens
from billing.models import UsageRecord

PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(params=["openai_client", "openai_client_api_v1"])
def sdk(request: pytest.FixtureRequest) -> openai.OpenAI:
    return request.getfixturevalue(request.param)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# --- chat ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt-4o-mini", "claude-3-5-haiku-20241022", "llama3.2"])
def test_it_answers_a_plain_chat_in_the_name_the_client_used(sdk, upstream, name) -> None:
    messages = user("Greet me [[reply:Hello there, friend!]]")
    completion = sdk.chat.completions.create(model=name, messages=messages)

    assert completion.object == "chat.completion"
    assert completion.model == name
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hello there, friend!"
    assert completion.choices[0].finish_reason == "stop"
    sent = upstream.requests[-1]["body"]
    assert sent["model"] == "llama3.2"
    prompt = fake_prompt_tokens("openai", sent)
    assert prompt == MESSAGE_OVERHEAD + count_tokens(messages[0]["content"])
    assert completion.usage.prompt_tokens == prompt
    assert completion.usage.completion_tokens == 5  # Hello / there / , / friend / !
    assert completion.usage.total_tokens == prompt + 5


def test_it_streams_the_same_text_with_one_usage_chunk_at_the_end(sdk, upstream) -> None:
    messages = user("Tell me something about gates")
    whole = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)

    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len(text.split()) == 12
    assert all(c.model == "gpt-4o-mini" for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    with_usage = [c for c in chunks if c.usage is not None]
    assert with_usage == [chunks[-1]]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == 12
    assert [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason] == [
        "stop"
    ]


def test_it_sends_no_usage_chunk_unless_asked_but_asks_the_upstream_for_one(sdk, upstream) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=user("Stream to me [[reply:one two three]]"), stream=True
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert upstream.requests[-1]["body"]["stream"] is True
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    record = UsageRecord.objects.get()
    assert record.stream is True
    assert (record.prompt_tokens, record.completion_tokens) == (
        fake_prompt_tokens("openai", upstream.requests[-1]["body"]),
        3,
    )
    assert record.tokens_estimated is False


def test_it_asks_the_upstream_for_usage_when_the_client_declined(sdk, upstream) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("hi"),
            stream=True,
            stream_options={"include_usage": False},
        )
    )

    assert all(c.usage is None for c in chunks)
    assert upstream.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_it_round_trips_a_tool_call(sdk, upstream) -> None:
    messages = user("What is the weather in Bern?")
    first = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
    )

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample"}
    assert upstream.requests[-1]["body"]["tools"] == [WEATHER_TOOL]

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    second = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL]
    )

    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool returned: 18 degrees and sunny"
    assert upstream.requests[-1]["body"]["messages"][-1]["tool_call_id"] == call.id


def test_it_accepts_an_image_url_part(sdk, upstream) -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )

    assert completion.choices[0].message.content
    assert upstream.requests[-1]["body"]["messages"][0]["content"] == content
    expected = MESSAGE_OVERHEAD + count_tokens("What is in this picture?") + IMAGE_TOKENS
    assert completion.usage.prompt_tokens == expected


def test_it_answers_json_in_json_mode(sdk, upstream) -> None:
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("Describe a gate as JSON"),
        response_format={"type": "json_object"},
    )

    assert isinstance(json.loads(completion.choices[0].message.content), dict)
    assert upstream.requests[-1]["body"]["response_format"] == {"type": "json_object"}


def test_it_passes_every_parameter_through_untouched(sdk, upstream) -> None:
    sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("hi"),
        temperature=0.3,
        top_p=0.9,
        max_tokens=50,
        stop=["zzz", "\n\n"],
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        seed=42,
        user="end-user-7",
        logprobs=True,
        top_logprobs=2,
        parallel_tool_calls=False,
        tools=[WEATHER_TOOL],
        tool_choice="none",
        extra_body={"repetition_penalty": 1.1, "vendor": {"nested": [1, 2]}},
    )

    assert upstream.requests[-1]["body"] == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["zzz", "\n\n"],
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "seed": 42,
        "user": "end-user-7",
        "logprobs": True,
        "top_logprobs": 2,
        "parallel_tool_calls": False,
        "tools": [WEATHER_TOOL],
        "tool_choice": "none",
        "repetition_penalty": 1.1,
        "vendor": {"nested": [1, 2]},
    }
    assert UsageRecord.objects.get().end_user == "end-user-7"


def test_it_serves_a_provider_prefixed_name(sdk, upstream) -> None:
    completion = sdk.chat.completions.create(
        model="anthropic/claude-haiku-4-5-20251001", messages=user("hi [[reply:prefixed ok]]")
    )

    assert completion.model == "anthropic/claude-haiku-4-5-20251001"
    assert completion.choices[0].message.content == "prefixed ok"
    assert upstream.requests[-1]["body"]["model"] == "llama3.2"
    record = UsageRecord.objects.get()
    assert record.requested_model == record.served_model == "anthropic/claude-haiku-4-5-20251001"


# --- legacy completions, embeddings, models -----------------------------------------------------


def test_it_serves_legacy_completions(sdk, upstream) -> None:
    prompt = "Once upon a time [[reply:there was a gate]]"
    completion = sdk.completions.create(model="gpt-4o-mini", prompt=prompt)

    assert completion.object == "text_completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].text == "there was a gate"
    assert completion.usage.prompt_tokens == count_tokens(prompt)
    assert completion.usage.completion_tokens == 4
    assert upstream.requests[-1]["path"] == "/v1/completions"
    assert upstream.requests[-1]["body"]["prompt"] == prompt
    record = UsageRecord.objects.get()
    assert record.endpoint == "completions"
    assert (record.prompt_tokens, record.completion_tokens) == (count_tokens(prompt), 4)


def test_it_embeds_a_list_as_that_many_vectors(sdk, upstream) -> None:
    texts = ["first text", "second", "the third one"]
    result = sdk.embeddings.create(model="text-embedding-3-small", input=texts)

    assert result.model == "text-embedding-3-small"
    assert [item.index for item in result.data] == [0, 1, 2]
    for item, text in zip(result.data, texts, strict=True):
        assert item.embedding == pytest.approx(list(embedding(text)), abs=1e-6)
    assert result.usage.prompt_tokens == 2 + 1 + 3
    assert upstream.requests[-1]["path"] == "/v1/embeddings"
    assert upstream.requests[-1]["body"]["model"] == "nomic-embed-text"
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.requested_model, record.served_model) == (
        "embeddings",
        "text-embedding-3-small",
        "nomic-embed-text",
    )
    assert (record.status, record.prompt_tokens, record.completion_tokens) == (200, 6, 0)


def test_it_embeds_a_single_string(sdk) -> None:
    result = sdk.embeddings.create(model="nomic-embed-text", input="just one")

    assert len(result.data) == 1
    assert result.data[0].embedding == pytest.approx(list(embedding("just one")), abs=1e-6)


def test_it_lists_and_retrieves_models(sdk, upstream) -> None:
    ids = [m.id for m in sdk.models.list()]

    assert {"llama3.2", "nomic-embed-text", "anthropic/claude-haiku-4-5-20251001"} <= set(ids)
    model = sdk.models.retrieve("llama3.2")
    assert (model.id, model.object, model.owned_by) == ("llama3.2", "model", "tollgate")
    assert sdk.models.retrieve("anthropic/claude-haiku-4-5-20251001").id == (
        "anthropic/claude-haiku-4-5-20251001"
    )
    assert upstream.requests == []  # the catalog answers, not the upstream


# --- headers and metering -----------------------------------------------------------------------


def test_it_gives_every_response_a_request_id(sdk) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=user("hi"))
    streamed = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user("hi"), stream=True
    )
    list(streamed.parse())
    listed = sdk.models.with_raw_response.list()

    ids = [r.headers["X-Request-Id"] for r in (raw, streamed, listed)]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 3
    records = UsageRecord.objects.order_by("started_at")
    assert sorted(r.request_id for r in records) == sorted(ids[:2])


def test_it_echoes_the_clients_request_id(sdk) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user("hi"), extra_headers={"X-Request-Id": "trace-42.a:b"}
    )

    assert raw.headers["X-Request-Id"] == "trace-42.a:b"
    assert UsageRecord.objects.get().request_id == "trace-42.a:b"


def test_it_replaces_an_unusable_request_id(sdk) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user("hi"), extra_headers={"X-Request-Id": "no spaces <b>"}
    )

    assert re.fullmatch(r"req_[0-9a-f]{32}", raw.headers["X-Request-Id"])
    assert UsageRecord.objects.get().request_id == raw.headers["X-Request-Id"]


def test_it_reports_server_timing_on_non_streamed_answers(sdk) -> None:
    chat = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=user("hi"))
    embed = sdk.embeddings.with_raw_response.create(model="text-embedding-3-small", input="x")
    legacy = sdk.completions.with_raw_response.create(model="gpt-4o-mini", prompt="x")

    for raw in (chat, embed, legacy):
        timing = raw.headers["Server-Timing"]
        match = re.fullmatch(r"gateway;dur=(\d+\.\d), upstream;dur=(\d+\.\d)", timing)
        assert match, timing
        assert float(match[2]) > 0


def test_it_records_usage_per_call(sdk, upstream, key_a) -> None:
    messages = user("Count me [[reply:alpha beta]]")
    sdk.chat.completions.create(model="gpt-4o-mini", messages=messages)
    prompt = fake_prompt_tokens("openai", upstream.requests[-1]["body"])
    list(
        sdk.chat.completions.create(
            model="claude-3-5-haiku-20241022", messages=messages, stream=True
        )
    )

    plain, streamed = UsageRecord.objects.order_by("started_at")
    for record in (plain, streamed):
        assert record.workspace_id == key_a.key.workspace_id
        assert record.key_id == key_a.key.pk
        assert record.endpoint == "chat_completions"
        assert record.dialect == "openai"
        assert record.status == 200
        assert record.error_code == ""
        assert record.served_model == "llama3.2"
        assert (record.prompt_tokens, record.completion_tokens) == (prompt, 2)
        assert record.tokens_estimated is False
        assert record.incomplete is False
        assert record.deployment_id is not None
    assert (plain.requested_model, plain.stream) == ("gpt-4o-mini", False)
    assert (streamed.requested_model, streamed.stream) == ("claude-3-5-haiku-20241022", True)


def test_it_estimates_usage_when_the_upstream_reports_none(sdk) -> None:
    completion = sdk.chat.completions.create(
        model="gpt-4o-mini", messages=user("hi [[no_usage]] [[reply:four words right here]]")
    )

    assert completion.choices[0].message.content == "four words right here"
    record = UsageRecord.objects.get()
    assert record.tokens_estimated is True
    assert record.completion_tokens == 4
    assert record.prompt_tokens > 0
    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens == record.prompt_tokens
    assert completion.usage.model_extra["estimated"] is True


def test_it_streams_an_estimated_usage_chunk_when_the_upstream_sends_none(sdk) -> None:
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=user("hi [[no_usage]] [[reply:five small words right here]]"),
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "five small words right here"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    assert usage_chunks[0].usage.completion_tokens == 5
    assert usage_chunks[0].usage.model_extra["estimated"] is True
    record = UsageRecord.objects.get()
    assert (record.tokens_estimated, record.completion_tokens) == (True, 5)


# --- OpenAI compatibility at the edges ---------------------------------------------------------


def test_it_embeds_a_batch_of_token_arrays(openai_client, upstream) -> None:
    result = openai_client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]]
    )

    assert len(result.data) == 2
    assert result.usage.prompt_tokens == 5
    assert upstream.requests[-1]["body"]["input"] == [[1, 2, 3], [4, 5]]


def test_it_accepts_an_integer_logprobs_on_legacy_completions(openai_client, upstream) -> None:
    completion = openai_client.completions.create(model="gpt-4o-mini", prompt="hi", logprobs=2)

    assert completion.choices[0].text
    assert upstream.requests[-1]["body"]["logprobs"] == 2


def test_it_accepts_token_ids_as_a_legacy_prompt(openai_client, upstream) -> None:
    completion = openai_client.completions.create(model="gpt-4o-mini", prompt=[1, 2, 3])

    assert completion.choices[0].text
    assert upstream.requests[-1]["body"]["prompt"] == [1, 2, 3]
