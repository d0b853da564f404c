"""Upstream faults, each injected for real by the fake upstream, seen through the official SDKs:
slow headers, a stall mid-stream, a connection reset, garbage JSON and a 200 carrying an error.
Before anything reached the client a fault fails over to the next deployment, or is an error in
the dialect's shape (never a 500, never the upstream's garbage); after the first byte it ends
the stream with a final error event, and the call is billed for what was delivered."""

from __future__ import annotations

import json
import time

import anthropic
import openai
import pytest

from billing.models import UsageRecord
from proxy.tokens import count_tokens

from .conftest import add_upstream, deploy

CHAT = "/v1/chat/completions"


@pytest.fixture
def failover(gateway, upstream_b):
    """llama3.2 gets a second deployment, on `upstream_b`, tried after the first."""
    return deploy(gateway["llama"], add_upstream(upstream_b, "second"), "llama3.2", priority=1)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def not_charged(record: UsageRecord) -> bool:
    return (record.credits, record.quota_units, record.cost) == (0, 0, 0)


def raw_chat(client, key, content: str, **extra):
    body = {"model": "llama3.2", "messages": user(content), **extra}
    return client.post(
        CHAT, data=json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def collect(stream) -> tuple[list[str], Exception | None]:
    """The contents an SDK stream delivered, and the error that ended it (if one did)."""
    contents: list[str] = []
    try:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                contents.append(chunk.choices[0].delta.content)
    except Exception as error:
        return contents, error
    return contents, None


# --- slow headers -------------------------------------------------------------------------------


def test_it_fails_a_slow_upstream_over_to_the_next_deployment(
    openai_client, gateway, failover, upstream, upstream_b
) -> None:
    gateway["upstream"].timeout = 0.3
    gateway["upstream"].save()
    upstream.configure(latency_ms=2000)
    stream = openai_client.chat.completions.create(
        model="llama3.2", messages=user("hello [[tokens:6]]"), stream=True
    )
    contents, error = collect(stream)
    assert error is None and len(contents) == 6
    assert len(upstream_b.requests) == 1
    assert UsageRecord.objects.get().deployment_id == failover.pk


def test_it_answers_504_and_charges_nothing_when_no_upstream_answers_in_time(
    openai_client, gateway, upstream
) -> None:
    gateway["upstream"].timeout = 0.3
    gateway["upstream"].save()
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(
            model="llama3.2", messages=user("hello [[latency:3000]]")
        )
    assert time.monotonic() - started < 2
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (504, "upstream_timeout")
    assert not_charged(record)


# --- a stall mid-stream -------------------------------------------------------------------------


def test_it_ends_a_stalled_stream_with_an_error_event_and_bills_what_was_delivered(
    openai_client, upstream, settings
) -> None:
    settings.GATEWAY_STREAM_IDLE_SECONDS = 0.5
    started = time.monotonic()
    stream = openai_client.chat.completions.create(
        model="llama3.2", messages=user("go [[tokens:20]] [[stall_after:6]]"), stream=True
    )
    contents, error = collect(stream)
    assert time.monotonic() - started < 3  # not the upstream's 5 s timeout
    assert isinstance(error, openai.APIError)
    assert "idle timeout" in str(error)
    assert 1 <= len(contents) < 20
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (504, "upstream_timeout")
    assert record.incomplete and record.tokens_estimated
    assert record.completion_tokens == sum(count_tokens(c) for c in contents)
    assert record.credits == 1 and record.prompt_tokens > 0  # billed: what was delivered
    assert upstream.wait_for(lambda rs: rs[-1]["disconnected"])  # the upstream call was closed


def test_it_ends_a_stalled_anthropic_stream_with_an_error_event(
    client, gateway, key_a, settings
) -> None:
    settings.GATEWAY_STREAM_IDLE_SECONDS = 0.5
    body = {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 50,
        "stream": True,
        "messages": user("go [[tokens:20]] [[stall_after:4]]"),
    }
    response = client.post(
        "/v1/messages", data=json.dumps(body), content_type="application/json",
        HTTP_X_API_KEY=key_a.secret,
    )  # fmt: skip
    lines = b"".join(response.streaming_content).decode().strip().split("\n")
    assert lines[0] == "event: message_start"
    assert lines[-2] == "event: error"
    error = json.loads(lines[-1].removeprefix("data: "))
    assert error["type"] == "error" and "idle timeout" in error["error"]["message"]
    assert "event: message_stop" not in lines
    record = UsageRecord.objects.get()
    assert (record.status, record.incomplete, record.credits) == (504, True, 1)


def test_the_anthropic_sdk_sees_the_stall_as_an_error(anthropic_client, settings) -> None:
    settings.GATEWAY_STREAM_IDLE_SECONDS = 0.5
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_client.messages.stream(
            model="claude-3-5-haiku-latest",
            max_tokens=50,
            messages=user("go [[tokens:20]] [[stall_after:4]]"),
        ) as stream,
    ):
        texts.extend(stream.text_stream)
    assert "idle timeout" in str(caught.value)
    assert texts  # what came before the stall was delivered


# --- a connection reset -------------------------------------------------------------------------


def test_it_ends_a_stream_reset_midway_with_an_error_event_and_bills_what_was_delivered(
    openai_client, upstream
) -> None:
    stream = openai_client.chat.completions.create(
        model="llama3.2", messages=user("go [[tokens:20]] [[drop_after:5]]"), stream=True
    )
    contents, error = collect(stream)
    assert isinstance(error, openai.APIError) and "broke off" in str(error)
    assert 1 <= len(contents) < 20
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code, record.incomplete) == (502, "upstream_error", True)
    assert record.completion_tokens == sum(count_tokens(c) for c in contents)
    assert record.credits == 1


def test_it_fails_a_stream_reset_before_its_first_event_over(
    openai_client, failover, upstream, upstream_b
) -> None:
    upstream.configure(directives="[[drop_after:0]]")
    stream = openai_client.chat.completions.create(
        model="llama3.2", messages=user("go [[tokens:6]]"), stream=True
    )
    contents, error = collect(stream)
    assert error is None and len(contents) == 6
    assert upstream.requests[-1]["dropped"] and len(upstream_b.requests) == 1
    assert UsageRecord.objects.get().deployment_id == failover.pk


def test_it_answers_503_and_charges_nothing_when_the_only_upstream_resets(
    openai_client, upstream
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.chat.completions.create(
            model="llama3.2", messages=user("go [[drop_after:0]]"), stream=True
        )
    assert caught.value.status_code == 503
    assert not_charged(UsageRecord.objects.get())


# --- garbage JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_it_answers_502_to_garbage_and_never_passes_it_on(
    client, gateway, key_a, upstream, stream
) -> None:
    response = raw_chat(client, key_a, "hi [[garbage]]", stream=stream)
    assert response.status_code == 502
    assert response["Content-Type"].startswith("application/json")  # nothing was streamed
    error = response.json()["error"]
    assert error["code"] == "upstream_error"
    assert "invalid" in error["message"]
    assert b"oops" not in response.content
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (502, "upstream_error") and not_charged(record)


@pytest.mark.parametrize("stream", [False, True])
def test_it_fails_garbage_over_to_the_next_deployment(
    openai_client, failover, upstream, upstream_b, stream
) -> None:
    upstream.configure(directives="[[garbage]]")
    if stream:
        contents, error = collect(
            openai_client.chat.completions.create(
                model="llama3.2", messages=user("hi [[tokens:4]]"), stream=True
            )
        )
        assert error is None and len(contents) == 4
    else:
        answer = openai_client.chat.completions.create(model="llama3.2", messages=user("hi"))
        assert answer.choices[0].message.content
    assert len(upstream.requests) == 1 and len(upstream_b.requests) == 1


def test_it_ends_a_stream_with_an_in_band_error_with_an_error_event(
    client, gateway, key_a, upstream
) -> None:
    response = raw_chat(client, key_a, "hi [[tokens:8]] [[error_200:3]]", stream=True)
    assert response.status_code == 200
    events = [
        line[6:]
        for line in b"".join(response.streaming_content).decode().split("\n")
        if line.startswith("data: ")
    ]
    assert json.loads(events[-1])["error"]["code"] == "upstream_error"
    assert "[DONE]" not in events


# --- a 200 whose body is an error ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_it_takes_a_200_carrying_an_error_for_a_failure(
    client, gateway, key_a, upstream, stream
) -> None:
    response = raw_chat(client, key_a, "hi [[error_200]]", stream=stream)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and "error" in error["message"]
    assert "choices" not in response.json()
    assert not_charged(UsageRecord.objects.get())


def test_it_fails_a_200_carrying_an_error_over(
    openai_client, failover, upstream, upstream_b
) -> None:
    upstream.configure(directives="[[error_200]]")
    answer = openai_client.chat.completions.create(model="llama3.2", messages=user("hi"))
    assert answer.choices[0].message.content
    assert len(upstream_b.requests) == 1
    assert UsageRecord.objects.get().deployment_id == failover.pk
