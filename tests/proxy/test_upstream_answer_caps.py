"""Upstream answers are read within caps (proxy.providers): a huge body or a stream line that
never ends, sent for real by the fake upstream, is a 502 upstream_error naming the cap, for the
operator's upstreams (generous caps) and a customer's own server (tight ones); the line reader
stays linear however long a line is."""

from __future__ import annotations

import json
import time

import pytest

from accounts.services import create_workspace
from billing.models import Plan
from keys.services import issue_key

from ..conftest import _user
from .test_local_connection import chat, connect

CHAT = "/v1/chat/completions"
MB = 1024 * 1024


def raw_chat(client, key, content: str, **extra):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(
        CHAT, data=json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def error_of(response) -> dict:
    return response.json()["error"]


def test_it_answers_502_naming_the_cap_when_an_upstream_body_is_too_large(
    client, gateway, key_a, settings
) -> None:
    settings.UPSTREAM_MAX_BODY_BYTES = 2 * MB

    response = raw_chat(client, key_a, "hello [[huge:3000000]]")

    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "upstream_error"
    assert "2 MiB cap (UPSTREAM_MAX_BODY_BYTES)" in error["message"]
    # under the cap, the padded answer is an ordinary answer
    fine = raw_chat(client, key_a, "hello [[huge:1000000]]")
    assert fine.status_code == 200, fine.content
    assert fine.json()["choices"][0]["message"]["content"]


def test_it_ends_a_stream_whose_line_never_ends_with_an_error_naming_the_cap(
    client, gateway, key_a, settings
) -> None:
    settings.UPSTREAM_MAX_LINE_BYTES = 1 * MB

    response = raw_chat(client, key_a, "hello [[huge:5000000]]", stream=True)

    assert response.status_code == 502  # the first line never ended: nothing was sent yet
    error = error_of(response)
    assert error["code"] == "upstream_error"
    assert "1 MiB cap (UPSTREAM_MAX_LINE_BYTES)" in error["message"]


def test_it_reads_a_40_mb_line_in_linear_time(client, gateway, key_a, settings) -> None:
    settings.UPSTREAM_MAX_LINE_BYTES = 64 * MB
    started = time.monotonic()

    response = raw_chat(client, key_a, "hello [[huge:40000000]]", stream=True)

    elapsed = time.monotonic() - started
    assert response.status_code == 502  # a 40 MB line that is not an event: an invalid answer
    assert error_of(response)["code"] == "upstream_error"
    assert elapsed < 3  # quadratic joining took ~10 s here


@pytest.fixture
def local_key(catalog):
    plan = Plan.objects.get(code="local_agent_train")
    return issue_key(create_workspace("Homelab", _user("owner@homelab.test"), plan), "homelab")


@pytest.fixture
def own_server(client, settings, local_key, upstream_b):
    settings.LOCAL_UPSTREAM_ALLOWED_CIDRS = ["127.0.0.1/32"]
    connect(client, local_key, {"base_url": upstream_b.url})
    return upstream_b


def test_it_caps_a_customers_own_server_tighter_than_the_operators(
    client, own_server, local_key, settings
) -> None:
    settings.LOCAL_UPSTREAM_MAX_BODY_BYTES = 1 * MB

    response = chat(client, local_key, text="hi [[huge:1500000]]")

    assert response.status_code == 502
    assert "1 MiB cap (LOCAL_UPSTREAM_MAX_BODY_BYTES)" in error_of(response)["message"]
    assert own_server.requests[-1]["path"] == "/v1/chat/completions"


def test_it_uses_the_operators_caps_for_the_operators_upstreams(
    client, gateway, key_a, settings
) -> None:
    settings.LOCAL_UPSTREAM_MAX_BODY_BYTES = 1 * MB

    response = raw_chat(client, key_a, "hello [[huge:1500000]]")

    assert response.status_code == 200, response.content


def test_it_ends_a_stream_over_the_body_cap_with_a_final_error_event(
    client, gateway, key_a, settings
) -> None:
    settings.UPSTREAM_MAX_BODY_BYTES = 64 * 1024  # a 3,000-token stream sends ~500 kB

    response = raw_chat(client, key_a, "hello [[tokens:3000]]", stream=True)

    assert response.status_code == 200  # the first events were within the cap
    events = b"".join(response.streaming_content).decode()
    assert "64 KiB cap (UPSTREAM_MAX_BODY_BYTES)" in events
    assert '"code": "upstream_error"' in events or '"code":"upstream_error"' in events
    assert "[DONE]" not in events
