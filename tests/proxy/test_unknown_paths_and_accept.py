"""What every client trips on first: an unknown path answers a JSON 404 for every method (never
Django's CSRF or 404 HTML page), and whatever a client puts in Accept, an endpoint answers in its
own format rather than 406 (Codex sends `Accept: text/event-stream`, and so does Postman's
generated request for /api/v1/chat/stream)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hello there"}]}
MESSAGES = {**CHAT, "max_tokens": 20}


@pytest.fixture
def browserless() -> Client:
    """A client as API clients are: CSRF checks enforced, no cookie."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    "path, shape",
    [
        ("/v1/nothing-here", "openai"),
        ("/api/v1/nothing-here", "openai"),
        ("/v1/messages/nothing-here", "anthropic"),
        ("/api/nothing-here", "ollama"),
        ("/api/v1/nothing/deeper", "openai"),
    ],
)
def test_it_answers_an_unknown_path_with_a_json_404_for_every_method(
    browserless, gateway, key_a, method, path, shape
) -> None:
    response = browserless.generic(
        method, path, "{}", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}",
    )  # fmt: skip

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    if method == "HEAD":
        return  # no body, as HTTP wants
    body = response.json()
    if shape == "openai":
        assert body["error"]["type"] == "invalid_request_error"
    elif shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    else:
        assert body == {"error": f"No API endpoint at {path}."}


def test_it_never_answers_an_api_post_with_a_csrf_page(browserless, gateway, key_a) -> None:
    response = browserless.post(
        "/v1/not-yet-a-route", data=json.dumps(CHAT), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}", HTTP_COOKIE="csrftoken=abc",
    )  # fmt: skip

    assert response.status_code == 404
    assert b"CSRF" not in response.content


ACCEPTS = ["text/event-stream", "application/x-ndjson", "*/*", "application/json", "text/html"]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize(
    "path, body, streamed",
    [
        ("/v1/chat/completions", CHAT, False),
        ("/v1/chat/completions", {**CHAT, "stream": True}, True),
        ("/api/v1/chat/completions", {**CHAT, "stream": True}, True),
        ("/api/v1/chat/stream", CHAT, True),
        ("/api/v1/chat", CHAT, False),
        ("/v1/messages", MESSAGES, False),
        ("/v1/messages", {**MESSAGES, "stream": True}, True),
        ("/v1/embeddings", {"model": "nomic-embed-text", "input": "hi"}, False),
        ("/v1/responses", {"model": "llama3.2", "input": "Hello there"}, False),
        ("/v1/responses", {"model": "llama3.2", "input": "Hello", "stream": True}, True),
        ("/api/chat", {**CHAT, "stream": False}, False),
        ("/api/chat", CHAT, "application/x-ndjson"),
    ],
)
def test_it_answers_in_the_endpoints_own_format_whatever_the_accept(
    browserless, gateway, key_a, accept, path, body, streamed
) -> None:
    response = browserless.post(
        path, data=json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}", HTTP_ACCEPT=accept,
    )  # fmt: skip

    assert response.status_code == 200, response.content
    if streamed:
        kind = streamed if isinstance(streamed, str) else "text/event-stream"
        assert response["Content-Type"].startswith(kind)
        assert b"".join(response.streaming_content)
    else:
        assert response["Content-Type"] == "application/json"
        assert response.json()


@pytest.mark.parametrize(
    "path", ["/v1/models", "/api/v1/models", "/api/v1/quota", "/api/v1/key", "/api/tags"]
)
def test_it_lists_whatever_the_accept(browserless, gateway, key_a, path) -> None:
    response = browserless.get(
        path, HTTP_AUTHORIZATION=f"Bearer {key_a.secret}", HTTP_ACCEPT="text/event-stream"
    )

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"


def test_it_refuses_a_bad_key_in_json_whatever_the_accept(browserless, gateway) -> None:
    response = browserless.post(
        "/v1/chat/completions", data=json.dumps(CHAT), content_type="application/json",
        HTTP_AUTHORIZATION="Bearer sk-tg-wrong", HTTP_ACCEPT="text/event-stream",
    )  # fmt: skip

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
