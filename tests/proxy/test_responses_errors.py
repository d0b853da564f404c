"""Bad Responses API requests: a 400 in OpenAI's error shape naming the field, never a 500 or an
HTML page, nothing sent upstream; failures after the start of a stream; a stream the client cuts
is billed for what it received; stored responses are purged after the retention period."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing.models import UsageRecord
from proxy.models import Model, StoredResponse

from .conftest import add_upstream, deploy


def post(client, key, raw: str | bytes, path: str = "/v1/responses"):
    return client.post(path, data=raw, content_type="application/json", HTTP_X_API_KEY=key.secret)


def body(**fields) -> str:
    return json.dumps({"model": "llama3.2", "input": "Hi", **fields})


BAD = [
    (body(input=None), "input: is required", "input"),
    (body(input=42), "input: expected a string or an array of input items, got integer", "input"),
    ('{"input": "Hi"}', "model: is required", "model"),
    (body(model=["x"]), "model: expected a string, got array", "model"),
    (
        '{"model": "llama3.2", "input": "a\\u0000b"}',
        "input: must not contain NUL characters or lone surrogates",
        "input",
    ),
    (
        '{"model": "llama3.2", "input": [{"role": "user", "content": "\\ud800"}]}',
        "input[0].content: must not contain NUL characters or lone surrogates",
        "input[0].content",
    ),
    (
        body(
            input=[
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "robot", "content": "c"},
            ]
        ),
        'input[2].role: unknown role "robot"; expected one of user, assistant, system, developer',
        "input[2].role",
    ),
    (
        body(input=[{"type": "message", "content": "x"}]),
        "input[0].role: is required",
        "input[0].role",
    ),
    (body(input=["text"]), "input[0]: expected an object, got string", "input[0]"),
    (
        body(input=[{"role": "user", "content": [{"type": "input_text", "text": 7}]}]),
        "input[0].content[0].text: expected a string, got integer",
        "input[0].content[0].text",
    ),
    (
        body(input=[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": {}}]),
        "input[0].arguments: expected a JSON string, got object",
        "input[0].arguments",
    ),
    (
        body(input=[{"type": "function_call_output", "output": "x"}]),
        "input[0].call_id: is required",
        "input[0].call_id",
    ),
    (
        body(input=[{"type": "teleport"}]),
        'input[0].type: unknown input item type "teleport"',
        "input[0].type",
    ),
    (body(tools=[{"type": "function"}]), "tools[0].name: is required", "tools[0].name"),
    (body(tools="all"), "tools: expected an array, got string", "tools"),
    (body(temperature="hot"), "temperature: expected a number, got string", "temperature"),
    (
        body(max_output_tokens=0),
        "max_output_tokens: must be at least 1, got 0",
        "max_output_tokens",
    ),
    (body(store="yes"), "store: expected a boolean, got string", "store"),
    (body(stream=1), "stream: expected a boolean, got integer", "stream"),
    (
        body(metadata={"a": 1}),
        "metadata.a: expected a string of at most 512 characters",
        "metadata.a",
    ),
    (
        body(text={"format": {"type": "xml"}}),
        'text.format.type: expected "text", "json_object" or "json_schema"',
        "text.format.type",
    ),
    (
        body(reasoning={"effort": "extreme"}),
        'reasoning.effort: expected "none", "minimal", "low", "medium", "high" or "xhigh"',
        "reasoning.effort",
    ),
    (
        body(reasoning={"effort": []}),
        'reasoning.effort: expected "none", "minimal", "low", "medium", "high" or "xhigh"',
        "reasoning.effort",
    ),
    (
        body(tools=[{"type": "custom", "name": {}}]),
        "tools[0].name: expected a string, got object",
        "tools[0].name",
    ),
    (body(include="everything"), "include: expected an array of strings", "include"),
    (
        body(background=True),
        "background: background responses are not supported; omit it or send false",
        "background",
    ),
    (
        body(previous_response_id=5),
        "previous_response_id: expected a string, got integer",
        "previous_response_id",
    ),
]


@pytest.mark.parametrize(("raw", "message", "param"), BAD)
def test_it_refuses_a_bad_body_naming_the_field(
    client, gateway, key_a, upstream, raw, message, param
):
    response = post(client, key_a, raw)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": "invalid_request_error",
        }
    }
    assert upstream.requests == []


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"model": "llama3.2", "input": "' + b"x" * 64 + b'"'],
)
def test_it_refuses_what_is_not_a_json_object(client, gateway, key_a, upstream, raw):
    response = post(client, key_a, raw, "/api/v1/responses")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_it_refuses_a_megabyte_body_over_the_limit(client, gateway, key_a, upstream, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1024 * 1024
    response = post(client, key_a, body(input="x" * (2 * 1024 * 1024)))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert upstream.requests == []


def test_it_answers_401_and_404_in_openai_shape(client, gateway, key_a, upstream):
    assert (
        client.post("/v1/responses", data=body(), content_type="application/json").status_code
        == 401
    )
    missing = post(client, key_a, body(model="gpt-9"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    assert client.get("/v1/responses/resp_x").status_code == 401
    assert (
        client.get("/v1/responses/resp_x", HTTP_X_API_KEY=key_a.secret).json()["error"]["code"]
        == "not_found"
    )


def events_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_a_stream_that_breaks_after_its_start_ends_with_response_failed(
    client, gateway, key_a, upstream
):
    response = post(client, key_a, body(input="Go on [[tokens:30]] [[drop_after:5]]", stream=True))

    events = events_of(response)
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["id"] == events[0]["response"]["id"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "upstream_error"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    record = UsageRecord.objects.get()
    assert (record.dialect, record.incomplete, record.status) == ("responses", True, 502)
    assert not StoredResponse.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_bills_a_stream_the_client_cuts_for_what_was_delivered(live_server, upstream) -> None:
    import requests

    from accounts.models import User
    from accounts.services import create_workspace
    from billing.catalog import DEFAULT_CATALOG, apply_file
    from billing.models import Plan
    from keys.services import issue_key

    apply_file(DEFAULT_CATALOG)
    workspace = create_workspace(
        "Live", User.objects.create_user("live@x.test"), Plan.objects.get(code="paid_chat")
    )
    key = issue_key(workspace, "live")
    deploy(Model.objects.create(name="long"), add_upstream(upstream, "live-up"), "llama3.2")
    request = {"model": "long", "input": "[[tokens:1500]] [[chunk_delay:20]] tell", "stream": True}
    with requests.post(
        live_server.url + "/v1/responses",
        json=request,
        headers={"Authorization": f"Bearer {key.secret}"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        deltas = 0
        for line in response.iter_lines():
            if b'"response.output_text.delta"' in line and line.startswith(b"data: "):
                deltas += 1
            if deltas == 3:
                break
    deadline = time.monotonic() + 30
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert (record.dialect, record.status, record.error_code, record.incomplete) == (
        "responses",
        499,
        "client_disconnected",
        True,
    )
    assert record.tokens_estimated
    assert 1 <= record.completion_tokens < 1500
    assert not StoredResponse.objects.exists()  # an answer never delivered is not kept


def test_it_purges_stored_responses_after_the_retention_period(openai_client, settings):
    from proxy.tasks import purge_stored_responses

    settings.RESPONSES_RETENTION_DAYS = 30
    old = openai_client.responses.create(model="llama3.2", input="old")
    with time_machine.travel(timezone.now() + timedelta(days=29)):
        recent = openai_client.responses.create(model="llama3.2", input="recent")
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert purge_stored_responses() == 1
    assert list(StoredResponse.objects.values_list("pk", flat=True)) == [recent.id]
    assert old.id != recent.id
