"""Native mode: an upstream the catalog marks `responses: true` (serves_responses) gets the
client's Responses request as it is (model renamed) and its events are relayed, metered from
its response.completed usage."""

from __future__ import annotations

import json

import pytest

from billing.catalog import apply
from billing.models import UsageRecord
from proxy.models import Model, Upstream, UpstreamKind

from .conftest import deploy

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def native(gateway, upstream) -> Model:
    """`gpt-native`, served by the fake's own /v1/responses under the name gpt-4o."""
    server = Upstream.objects.create(
        name="fake-responses",
        kind=UpstreamKind.OPENAI,
        base_url=f"{upstream.url}/v1",
        timeout=5,
        serves_responses=True,
    )
    model = Model.objects.create(name="gpt-native", capabilities=["tools", "reasoning"])
    deploy(model, server, "gpt-4o")
    return model


def test_it_sends_the_request_natively_and_meters_its_usage(openai_client, native, upstream):
    response = openai_client.responses.create(
        model="gpt-native",
        instructions="Be brief.",
        input="Hello [[reply:Native hello]]",
        metadata={"k": "v"},
    )

    assert response.output_text == "Native hello"
    assert response.model == "gpt-native"
    assert response.id.startswith("resp_")
    assert response.store is True  # kept by the gateway, though the upstream was told not to
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["body"]["model"] == "gpt-4o"
    assert sent["body"]["instructions"] == "Be brief."
    assert sent["body"]["input"] == "Hello [[reply:Native hello]]"
    record = UsageRecord.objects.get()
    assert (record.dialect, record.endpoint, record.served_model) == (
        "responses",
        "responses",
        "gpt-native",
    )
    assert (record.prompt_tokens, record.completion_tokens) == (
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    assert record.tokens_estimated is False
    assert openai_client.responses.retrieve(response.id).output_text == "Native hello"


def test_it_relays_the_native_event_stream(openai_client, native, upstream):
    events = list(
        openai_client.responses.create(
            model="gpt-native", input="Tell me about gates", tools=[WEATHER], stream=True
        )
    )

    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert {e.response.id for e in events if hasattr(e, "response")} == {events[0].response.id}
    assert events[-1].response.model == "gpt-native"
    call = events[-1].response.output[0]
    assert json.loads(call.arguments) == {"city": "sample"}
    assert upstream.requests[-1]["body"]["stream"] is True
    record = UsageRecord.objects.get()
    assert record.completion_tokens == events[-1].response.usage.output_tokens
    assert record.tokens_estimated is False


def test_it_expands_a_previous_response_into_the_native_input(openai_client, native, upstream):
    first = openai_client.responses.create(model="gpt-native", input="I am Ada [[reply:Hi Ada]]")

    second = openai_client.responses.create(
        model="gpt-native", previous_response_id=first.id, input="Who am I?"
    )

    assert second.previous_response_id == first.id
    sent = upstream.requests[-1]["body"]
    assert "previous_response_id" not in sent
    assert [item.get("role") for item in sent["input"]] == ["user", "assistant", "user"]
    assert sent["input"][1]["content"][0]["text"] == "Hi Ada"


def test_other_upstreams_are_bridged_through_chat(openai_client, upstream):
    openai_client.responses.create(model="llama3.2", input="Hi")

    assert upstream.requests[-1]["path"] == "/v1/chat/completions"


def test_the_catalog_file_sets_the_flag(catalog):
    apply(
        {
            "upstreams": [
                {
                    "name": "oai",
                    "kind": "openai",
                    "base_url": "https://api.example.com/v1",
                    "responses": True,
                }
            ]
        }
    )

    assert Upstream.objects.get(name="oai").serves_responses is True


def test_it_sends_no_hosted_tool_and_no_service_tier_upstream(openai_client, native, upstream):
    """They would run (and bill) on the operator's account, outside what the gateway meters."""
    openai_client.responses.create(
        model="gpt-native",
        input="Hello",
        tools=[
            {"type": "web_search"},
            {"type": "file_search", "vector_store_ids": ["vs_operator"]},
            {"type": "function", "name": "get_weather", "parameters": WEATHER["parameters"]},
        ],
        service_tier="priority",
    )

    sent = upstream.requests[-1]["body"]
    assert [tool["type"] for tool in sent["tools"]] == ["function"]
    assert "service_tier" not in sent
