"""The OpenAI Responses API (`POST /v1/responses`) through the official openai SDK: bridged to a
chat upstream (the fake upstream's OpenAI-compatible API), on both bases."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from bench.fake_upstream import MESSAGE_OVERHEAD, count_tokens
from billing.models import UsageRecord
from proxy.models import Model, StoredResponse

from .conftest import deploy

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(params=["openai_client", "openai_client_api_v1"])
def sdk(request: pytest.FixtureRequest) -> openai.OpenAI:
    return request.getfixturevalue(request.param)


def test_it_answers_a_string_input_with_a_response_object(sdk, upstream) -> None:
    response = sdk.responses.create(model="gpt-4o-mini", input="Greet me [[reply:Hello there!]]")

    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-4o-mini"
    assert response.output_text == "Hello there!"
    [message] = response.output
    assert (message.type, message.role, message.status) == ("message", "assistant", "completed")
    assert message.content[0].type == "output_text"
    sent = upstream.requests[-1]["body"]
    assert sent["model"] == "llama3.2"
    assert sent["messages"] == [{"role": "user", "content": "Greet me [[reply:Hello there!]]"}]
    prompt = MESSAGE_OVERHEAD + count_tokens("Greet me [[reply:Hello there!]]")
    assert response.usage.input_tokens == prompt
    assert response.usage.output_tokens == 3  # Hello / there / !
    assert response.usage.total_tokens == prompt + 3
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    record = UsageRecord.objects.get()
    assert (record.dialect, record.endpoint, record.status) == ("responses", "responses", 200)
    assert (record.prompt_tokens, record.completion_tokens) == (prompt, 3)
    assert (record.credits, record.tokens_estimated) == (1, False)


def test_it_takes_items_instructions_and_every_role(openai_client, upstream) -> None:
    response = openai_client.responses.create(
        model="llama3.2",
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in English."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello!"}],
            },
            {"role": "user", "content": "Again [[reply:Once more]]"},
        ],
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=50,
        user="end-user-1",
        metadata={"ticket": "42"},
    )

    assert response.output_text == "Once more"
    assert response.instructions == "Be brief."
    assert response.metadata == {"ticket": "42"}
    assert (response.temperature, response.top_p, response.max_output_tokens) == (0.5, 0.9, 50)
    sent = upstream.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Again [[reply:Once more]]"},
    ]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.5, 0.9, 50)
    assert UsageRecord.objects.get().end_user == "end-user-1"


def test_it_round_trips_a_function_tool_call(openai_client, upstream) -> None:
    first = openai_client.responses.create(
        model="llama3.2", input="Weather in Paris?", tools=[WEATHER], store=False
    )

    [call] = first.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "sample"}
    assert call.call_id and call.id.startswith("fc_")
    assert upstream.requests[-1]["body"]["tools"] == [
        {
            "type": "function",
            "function": {k: WEATHER[k] for k in ("name", "description", "parameters")},
        }
    ]

    second = openai_client.responses.create(
        model="llama3.2",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"},
        ],
        tools=[WEATHER],
        store=False,
    )

    assert second.output_text == "The tool returned: 18 degrees"
    messages = upstream.requests[-1]["body"]["messages"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "18 degrees"}


class City(BaseModel):
    name: str
    population: int


def test_it_answers_json_for_a_json_schema_text_format(openai_client, upstream) -> None:
    parsed = openai_client.responses.parse(
        model="llama3.2", input="A city, as JSON", text_format=City
    )

    assert isinstance(parsed.output_parsed, City)
    sent = upstream.requests[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "City"
    assert sent["json_schema"]["schema"]["required"] == ["name", "population"]


EXPECTED_EVENTS = [
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


def test_it_streams_the_exact_event_sequence_with_usage(sdk) -> None:
    whole = sdk.responses.create(model="llama3.2", input="Tell me something about gates")

    events = list(
        sdk.responses.create(model="llama3.2", input="Tell me something about gates", stream=True)
    )

    assert [e.type for e in events] == EXPECTED_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert len({e.response.id for e in events if hasattr(e, "response")}) == 1
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text
    final = events[-1].response
    assert final.status == "completed"
    assert final.output_text == text
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.usage.output_tokens == 12
    record = UsageRecord.objects.filter(stream=True).get()
    assert (record.dialect, record.completion_tokens, record.tokens_estimated) == (
        "responses",
        12,
        False,
    )


def test_it_serves_the_sdk_stream_helper(openai_client) -> None:
    with openai_client.responses.stream(model="llama3.2", input="Tell me about gates") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(deltas) == final.output_text
    assert final.usage.output_tokens == 12


def test_it_streams_a_function_call_with_argument_deltas(openai_client) -> None:
    events = list(
        openai_client.responses.create(
            model="llama3.2", input="Weather?", tools=[WEATHER], stream=True
        )
    )

    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert events[2].item.type == "function_call"
    assert "response.function_call_arguments.delta" in types
    assert types[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    done = events[-3]
    assert json.loads(done.arguments) == {"city": "sample"}
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert deltas == done.arguments
    assert events[-1].response.output[0].arguments == done.arguments


@pytest.fixture
def reasoner(gateway) -> Model:
    """deepseek-reasoner: the fake upstream's model that always reasons first."""
    model = Model.objects.create(name="deepseek-reasoner", capabilities=["reasoning"])
    deploy(model, gateway["upstream"], "deepseek-reasoner")
    return model


def test_it_streams_reasoning_as_a_reasoning_item(openai_client, reasoner) -> None:
    events = list(
        openai_client.responses.create(
            model="deepseek-reasoner", input="Think first", reasoning={"effort": "low"}, stream=True
        )
    )

    final = events[-1].response
    assert [item.type for item in final.output] == ["reasoning", "message"]
    reasoning = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert reasoning and final.output[0].content[0].text == reasoning
    assert final.usage.output_tokens_details.reasoning_tokens > 0


# --- stored responses ---------------------------------------------------------------------------


def test_it_continues_from_a_previous_response(openai_client, upstream) -> None:
    first = openai_client.responses.create(
        model="llama3.2", instructions="Be brief.", input="My name is Ada [[reply:Hi Ada]]"
    )

    second = openai_client.responses.create(
        model="llama3.2", previous_response_id=first.id, input="What is my name?"
    )

    assert second.previous_response_id == first.id
    assert upstream.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "My name is Ada [[reply:Hi Ada]]"},
        {"role": "assistant", "content": "Hi Ada"},
        {"role": "user", "content": "What is my name?"},
    ]  # instructions are not carried over, as at OpenAI


def test_it_caps_the_conversation_a_previous_response_chain_brings(openai_client) -> None:
    """Each body may carry 10,000 items; a previous_response_id chain may not grow past it."""
    items = [{"role": "user", "content": "hi"}] * 9_998
    first = openai_client.responses.create(model="llama3.2", input=items)  # + its answer: 9,999

    with pytest.raises(openai.BadRequestError) as refused:
        openai_client.responses.create(
            model="llama3.2",
            previous_response_id=first.id,
            input=[{"role": "user", "content": "a"}] * 2,
        )

    assert refused.value.body["param"] == "previous_response_id"
    assert "at most 10000 items in the conversation, got 10001" in refused.value.body["message"]


def test_it_gets_and_deletes_a_stored_response(sdk) -> None:
    created = sdk.responses.create(model="llama3.2", input="Remember me")

    fetched = sdk.responses.retrieve(created.id)
    assert fetched.id == created.id
    assert fetched.output_text == created.output_text
    assert fetched.usage.total_tokens == created.usage.total_tokens

    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.retrieve(created.id)
    assert missing.value.body["code"] == "not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(created.id)


def test_it_stores_a_streamed_response_once_delivered(openai_client) -> None:
    events = list(openai_client.responses.create(model="llama3.2", input="Hi", stream=True))

    stored = openai_client.responses.retrieve(events[0].response.id)
    assert stored.output_text == events[-1].response.output_text


def test_another_workspaces_response_is_a_404_like_a_missing_one(
    openai_client, gateway, key_b
) -> None:
    from .conftest import sdk_client

    created = openai_client.responses.create(model="llama3.2", input="Secret")
    other = sdk_client(openai.OpenAI, "http://testserver/v1", key_b)

    for response_id in (created.id, "resp_missing"):
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.retrieve(response_id)
        assert caught.value.body == {
            "message": f"Response with id '{response_id}' not found.",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    with pytest.raises(openai.BadRequestError) as caught:
        other.responses.create(model="llama3.2", previous_response_id=created.id, input="Hi")
    assert caught.value.body["code"] == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(created.id)
    assert StoredResponse.objects.filter(pk=created.id).exists()


def test_it_stores_nothing_with_store_false_and_takes_the_whole_input(
    openai_client, upstream
) -> None:
    response = openai_client.responses.create(
        model="llama3.2",
        store=False,
        include=["reasoning.encrypted_content"],
        prompt_cache_key="session-1",
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[WEATHER, {"type": "web_search"}],
        input=[
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]},
            {"role": "user", "content": "[[reply:Fine]]"},
        ],
    )

    assert response.store is False
    assert response.output_text == "Fine"
    assert not StoredResponse.objects.exists()
    sent = upstream.requests[-1]["body"]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(response.id)


def test_it_sends_images_as_image_parts(openai_client, upstream) -> None:
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    openai_client.responses.create(
        model="llama3.2",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": png, "detail": "low"},
                ],
            }
        ],
    )

    assert upstream.requests[-1]["body"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": png, "detail": "low"}},
            ],
        }
    ]


def test_it_replays_an_idempotent_repeat_without_charging(openai_client, upstream) -> None:
    first = openai_client.responses.create(
        model="llama3.2", input="Once", extra_headers={"Idempotency-Key": "order-7"}
    )
    again = openai_client.responses.with_raw_response.create(
        model="llama3.2", input="Once", extra_headers={"Idempotency-Key": "order-7"}
    )

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parse().output_text == first.output_text
    assert len(upstream.requests) == 1
    replayed = UsageRecord.objects.get(error_code="replayed")
    assert (replayed.dialect, replayed.credits, replayed.prompt_tokens) == ("responses", 0, 0)
