"""Every way a request can be refused before it reaches an upstream, in OpenAI's error shape."""

from __future__ import annotations

import json

import openai
import pytest

from billing.models import UsageRecord
from keys.services import issue_key

from .conftest import wsgi_http_client

CHAT = "/v1/chat/completions"
MISSING_KEY = "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."


def error(
    message: str,
    *,
    param: str | None = None,
    code: str = "invalid_request_error",
    type: str = "invalid_request_error",
) -> dict:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def send(client, path: str, body, key=None, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    if key is not None:
        headers.setdefault("HTTP_X_API_KEY", key.secret)
    return client.post(path, data=data, content_type="application/json", **headers)


def chat(**overrides) -> dict:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


USER = {"role": "user", "content": "hi"}
ASSISTANT = {"role": "assistant", "content": "hello"}

# (id, raw body, message, param)
INVALID_BODIES = [
    ("body-not-json", b"{not json", None, None),
    ("body-an-array", b"[1, 2]", "Request body must be a JSON object.", None),
    ("body-a-string", b'"chat"', "Request body must be a JSON object.", None),
    ("missing-model", chat(model=...), "model: is required", "model"),
    ("model-not-a-string", chat(model=7), "model: expected a string, got integer", "model"),
    ("empty-model", chat(model="  "), "model: must not be empty", "model"),
    ("missing-messages", chat(messages=...), "messages: is required", "messages"),
    (
        "empty-messages",
        chat(messages=[]),
        "messages: must contain at least one message",
        "messages",
    ),
    (
        "messages-not-an-array",
        chat(messages="hi"),
        "messages: expected an array, got string",
        "messages",
    ),
    (
        "message-not-an-object",
        chat(messages=[USER, "hello"]),
        "messages[1]: expected an object, got string",
        "messages[1]",
    ),
    (
        "missing-role",
        chat(messages=[{"content": "hi"}]),
        "messages[0].role: is required",
        "messages[0].role",
    ),
    (
        "unknown-role",
        chat(messages=[USER, ASSISTANT, {"role": "robot", "content": "beep"}]),
        'messages[2].role: unknown role "robot"',
        "messages[2].role",
    ),
    (
        "content-a-number",
        chat(messages=[{"role": "user", "content": 42}]),
        "messages[0].content: expected a string or an array, got integer",
        "messages[0].content",
    ),
    (
        "content-an-object",
        chat(messages=[{"role": "user", "content": {"text": "hi"}}]),
        "messages[0].content: expected a string or an array, got object",
        "messages[0].content",
    ),
    (
        "content-missing",
        chat(messages=[{"role": "user"}]),
        "messages[0].content: is required",
        "messages[0].content",
    ),
    (
        "unknown-part-type",
        chat(messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
        'messages[0].content[0].type: unknown content part type "video"',
        "messages[0].content[0].type",
    ),
    (
        "part-not-an-object",
        chat(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, "b"]}]),
        "messages[0].content[1]: expected an object, got string",
        "messages[0].content[1]",
    ),
    (
        "image-url-not-a-url",
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                }
            ]
        ),
        "messages[0].content[0].image_url.url: must be a data: URL or an http(s) URL",
        "messages[0].content[0].image_url.url",
    ),
    (
        "tool-message-without-id",
        chat(messages=[USER, {"role": "tool", "content": "42"}]),
        "messages[1].tool_call_id: is required for a tool message",
        "messages[1].tool_call_id",
    ),
    (
        "temperature-too-high",
        chat(temperature=2.5),
        "temperature: must be between 0 and 2, got 2.5",
        "temperature",
    ),
    (
        "temperature-negative",
        chat(temperature=-0.1),
        "temperature: must be between 0 and 2, got -0.1",
        "temperature",
    ),
    (
        "temperature-a-string",
        chat(temperature="hot"),
        "temperature: expected a number, got string",
        "temperature",
    ),
    ("top-p-too-high", chat(top_p=1.5), "top_p: must be between 0 and 1, got 1.5", "top_p"),
    (
        "five-stop-sequences",
        chat(stop=["a", "b", "c", "d", "e"]),
        "stop: at most 4 sequences, got 5",
        "stop",
    ),
    ("max-tokens-zero", chat(max_tokens=0), "max_tokens: must be at least 1, got 0", "max_tokens"),
    (
        "max-tokens-a-float",
        chat(max_tokens=10.5),
        "max_tokens: expected an integer, got number",
        "max_tokens",
    ),
    ("stream-yes", chat(stream="yes"), "stream: expected a boolean, got string", "stream"),
    (
        "tools-without-function",
        chat(tools=[{"type": "function"}]),
        "tools[0].function: is required",
        "tools[0].function",
    ),
    (
        "bad-response-format",
        chat(response_format={"type": "xml"}),
        'response_format.type: expected "text", "json_object" or "json_schema"',
        "response_format.type",
    ),
    ("user-a-number", chat(user=5), "user: expected a string, got integer", "user"),
]


@pytest.mark.parametrize(
    ("raw", "message", "param"),
    [case[1:] for case in INVALID_BODIES],
    ids=[case[0] for case in INVALID_BODIES],
)
def test_it_refuses_an_invalid_chat_body(client, gateway, key_a, upstream, raw, message, param):
    response = send(client, CHAT, raw, key_a)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if message is None:  # the parser's own words follow
        assert body["error"]["message"].startswith("Request body is not valid JSON: ")
        message = body["error"]["message"]
    assert body == error(message, param=param)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "path", ["/api/v1/chat", "/api/v1/chat/stream", "/api/v1/chat/completions"]
)
def test_it_validates_the_api_v1_chat_endpoints_the_same_way(client, gateway, key_a, path):
    body = chat(messages=[USER, ASSISTANT, {"role": "robot", "content": "beep"}])
    response = send(client, path, body, key_a)

    assert response.status_code == 400
    assert response.json() == error(
        'messages[2].role: unknown role "robot"', param="messages[2].role"
    )


@pytest.mark.parametrize(
    ("path", "body", "message", "param"),
    [
        ("/v1/completions", {"model": "llama3.2"}, "prompt: is required", "prompt"),
        (
            "/v1/completions",
            {"model": "llama3.2", "prompt": 3},
            "prompt: expected a string, an array of strings, or an array of token ids (or of arrays)",
            "prompt",
        ),
        ("/v1/embeddings", {"model": "nomic-embed-text"}, "input: is required", "input"),
        (
            "/v1/embeddings",
            {"model": "nomic-embed-text", "input": []},
            "input: expected a string, an array of strings, or an array of token ids (or of arrays)",
            "input",
        ),
        ("/api/v1/generate", {"prompt": "hi"}, "model: is required", "model"),
        (
            "/api/v1/generate",
            {"model": "llama3.2", "prompt": "hi", "system": ["a"]},
            "system: expected a string",
            "system",
        ),
    ],
)
def test_it_refuses_invalid_bodies_on_the_other_endpoints(
    client, gateway, key_a, upstream, path, body, message, param
):
    response = send(client, path, body, key_a)

    assert response.status_code == 400
    assert response.json() == error(message, param=param)
    assert upstream.requests == []


# --- models -------------------------------------------------------------------------------------


def not_found(name: str) -> dict:
    return error(
        f"The model {name!r} does not exist. GET /v1/models lists the models you can use.",
        param="model",
        code="model_not_found",
    )


@pytest.mark.parametrize(
    ("path", "body", "endpoint"),
    [
        (CHAT, chat(model="no-such-model"), "chat_completions"),
        ("/v1/completions", {"model": "no-such-model", "prompt": "hi"}, "completions"),
        ("/v1/embeddings", {"model": "no-such-model", "input": "hi"}, "embeddings"),
        ("/api/v1/chat", chat(model="no-such-model"), "chat"),
        ("/api/v1/generate", {"model": "no-such-model", "prompt": "hi"}, "generate"),
    ],
)
def test_it_answers_404_for_an_unknown_model(
    client, gateway, key_a, upstream, path, body, endpoint
):
    response = send(client, path, body, key_a)

    assert response.status_code == 404
    assert response.json() == not_found("no-such-model")
    assert upstream.requests == []
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status, record.error_code) == (
        endpoint,
        404,
        "model_not_found",
    )
    assert (record.requested_model, record.served_model) == ("no-such-model", "")
    assert record.workspace_id == key_a.key.workspace_id
    assert (record.prompt_tokens, record.completion_tokens) == (0, 0)


@pytest.mark.parametrize("prefix", ["/v1", "/api/v1"])
def test_it_answers_404_for_an_unknown_model_id(client, gateway, key_a, prefix):
    response = client.get(f"{prefix}/models/no-such-model", HTTP_X_API_KEY=key_a.secret)

    assert response.status_code == 404
    assert response.json() == not_found("no-such-model")


@pytest.fixture
def qwen_key(owner):
    return issue_key(owner.workspace, "qwen-only", model_patterns=["qwen*"])


def test_it_refuses_a_model_the_key_excludes(client, gateway, qwen_key, upstream):
    response = send(client, CHAT, chat(model="gpt-4o-mini"), qwen_key)

    assert response.status_code == 403
    assert response.json() == error(
        "Your plan or API key does not allow the model 'llama3.2'.",
        param="model",
        code="model_not_allowed",
        type="permission_error",
    )
    assert upstream.requests == []
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (403, "model_not_allowed")
    assert (record.requested_model, record.key_id) == ("gpt-4o-mini", qwen_key.key.pk)


def test_it_refuses_to_show_a_model_the_key_excludes(client, gateway, qwen_key):
    response = client.get("/v1/models/llama3.2", HTTP_X_API_KEY=qwen_key.secret)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"


def test_it_refuses_a_chat_with_an_embedding_model(client, gateway, key_a, upstream):
    response = send(client, CHAT, chat(model="text-embedding-3-small"), key_a)

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["param"] == "model"
    assert body["error"]["code"] == "invalid_request_error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("model: 'nomic-embed-text' is a")
    assert body["error"]["message"].endswith("model and cannot serve this endpoint.")
    assert upstream.requests == []
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (400, "invalid_request_error")


def test_it_names_the_model_kind_in_good_english(client, gateway, key_a):
    response = send(client, CHAT, chat(model="nomic-embed-text"), key_a)

    assert response.json()["error"]["message"] == (
        "model: 'nomic-embed-text' is an embedding model and cannot serve this endpoint."
    )


def test_it_refuses_embeddings_with_a_chat_model(client, gateway, key_a, upstream):
    response = send(client, "/v1/embeddings", {"model": "gpt-4o-mini", "input": "x"}, key_a)

    assert response.status_code == 400
    assert response.json() == error(
        "model: 'llama3.2' is a chat model and cannot serve this endpoint.", param="model"
    )
    assert upstream.requests == []


# --- size, method, key --------------------------------------------------------------------------


def test_it_refuses_a_body_over_the_limit_without_calling_the_upstream(
    client, gateway, key_a, upstream, settings
):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    small = chat(messages=[{"role": "user", "content": "x" * 800}])
    large = chat(messages=[{"role": "user", "content": "x" * 1000}])
    assert len(json.dumps(small)) <= 1000 < len(json.dumps(large))

    response = send(client, CHAT, large, key_a)

    assert response.status_code == 413
    assert response.json() == error(
        "Request body is larger than the limit of 1000 bytes.", code="request_too_large"
    )
    assert upstream.requests == []
    assert send(client, CHAT, small, key_a).status_code == 200
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/v1/completions",
        "/v1/embeddings",
        "/api/v1/chat",
        "/api/v1/chat/stream",
        "/api/v1/generate",
    ],
)
def test_it_applies_the_body_limit_everywhere(client, gateway, key_a, upstream, settings, path):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    body = {"model": "llama3.2", "prompt": "x" * 1200, "input": "x" * 1200}

    response = send(client, path, body, key_a)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (CHAT, "post"),
        ("/v1/completions", "post"),
        ("/v1/embeddings", "post"),
        ("/v1/models", "get"),
        ("/v1/models/llama3.2", "get"),
        ("/api/v1/chat", "post"),
        ("/api/v1/chat/stream", "post"),
        ("/api/v1/generate", "post"),
        ("/api/v1/models", "get"),
        ("/api/v1/chat/completions", "post"),
    ],
)
def test_it_answers_401_without_a_key(client, gateway, upstream, path, method):
    response = send(client, path, chat()) if method == "post" else client.get(path)

    assert response.status_code == 401
    assert response.json() == error(MISSING_KEY, code="invalid_api_key")
    assert response["X-Request-Id"]
    assert upstream.requests == []
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer sk-tg-thisKeyWasNeverIssuedToAnyone0"},
        {"HTTP_X_API_KEY": "not-even-a-key"},
    ],
)
def test_it_answers_401_for_a_wrong_key(client, gateway, upstream, headers):
    response = send(client, CHAT, chat(), **headers)

    assert response.status_code == 401
    assert response.json() == error("Invalid API key.", code="invalid_api_key")
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", CHAT),
        ("get", "/api/v1/chat"),
        ("put", "/v1/embeddings"),
        ("delete", "/api/v1/generate"),
        ("post", "/v1/models"),
    ],
)
def test_it_answers_405_for_a_wrong_method(client, gateway, key_a, upstream, method, path):
    response = getattr(client, method)(path, HTTP_X_API_KEY=key_a.secret)

    assert response.status_code == 405
    assert response.json() == error(
        f'Method "{method.upper()}" not allowed.', code="method_not_allowed"
    )
    assert upstream.requests == []


# --- the SDK's view of the same errors ----------------------------------------------------------


def sdk_client(key_secret: str, base: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://testserver{base}",
        api_key=key_secret,
        http_client=wsgi_http_client(),
        max_retries=0,
    )


@pytest.mark.parametrize("base", ["/v1", "/api/v1"])
def test_it_raises_the_sdks_exception_classes(gateway, key_a, qwen_key, upstream, base):
    sdk = sdk_client(key_a.secret, base)
    robot = [{"role": "robot", "content": "beep"}]

    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="llama3.2", messages=robot)
    assert bad.value.status_code == 400
    assert bad.value.code == "invalid_request_error"
    assert bad.value.param == "messages[0].role"
    assert bad.value.body["message"] == 'messages[0].role: unknown role "robot"'

    with pytest.raises(openai.BadRequestError) as hot:
        sdk.chat.completions.create(model="llama3.2", messages=[USER], temperature=2.5)
    assert hot.value.param == "temperature"

    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="no-such-model", messages=[USER])
    assert missing.value.code == "model_not_found"

    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="no-such-model", input="x")
    with pytest.raises(openai.NotFoundError):
        sdk.completions.create(model="no-such-model", prompt="x")
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")

    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk_client(qwen_key.secret, base).chat.completions.create(model="llama3.2", messages=[USER])
    assert denied.value.code == "model_not_allowed"

    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        sdk_client("sk-tg-thisKeyWasNeverIssuedToAnyone0", base).models.list()
    assert unauthenticated.value.code == "invalid_api_key"

    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="text-embedding-3-small", messages=[USER])
    assert upstream.requests == []


def test_it_raises_for_a_stream_refused_before_it_starts(gateway, key_a, upstream):
    sdk = sdk_client(key_a.secret)

    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=[USER], stream=True)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="llama3.2", messages=[USER], stream=True, top_p=1.5)


# --- usage records of refused calls -------------------------------------------------------------


def test_it_records_a_refused_tier(client, gateway, key_a, upstream):
    response = send(client, CHAT, chat(), key_a, HTTP_X_TIER="warp")

    assert response.status_code == 400
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code, record.requested_model) == (
        400,
        "invalid_request_error",
        "llama3.2",
    )


def test_it_records_a_call_refused_for_its_body(client, gateway, key_a):
    response = send(client, CHAT, chat(temperature=2.5), key_a)

    assert response.status_code == 400
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code, record.endpoint) == (
        400,
        "invalid_request_error",
        "chat_completions",
    )
    assert record.workspace_id == key_a.key.workspace_id


def test_it_records_a_call_refused_for_its_size(client, gateway, key_a, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1000
    response = send(client, CHAT, chat(messages=[{"role": "user", "content": "x" * 1200}]), key_a)

    assert response.status_code == 413
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code) == (413, "request_too_large")


# --- known gaps ---------------------------------------------------------------------------------


def test_it_names_the_full_path_of_a_nested_field(client, gateway, key_a):
    body = chat(stream=True, stream_options={"include_usage": "yes"})
    response = send(client, CHAT, body, key_a)

    assert response.status_code == 400
    assert response.json() == error(
        "stream_options.include_usage: expected a boolean, got string",
        param="stream_options.include_usage",
    )


def test_it_accepts_a_legacy_function_call_turn(client, gateway, key_a, upstream):
    messages = [
        USER,
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "42"},
    ]
    response = send(client, CHAT, chat(messages=messages), key_a)

    assert response.status_code == 200
    assert upstream.requests[-1]["body"]["messages"] == messages


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/api/v1/nothing-here"])
def test_it_answers_an_unknown_api_path_in_openai_shape(client, gateway, key_a, path):
    response = client.post(
        path, data="{}", content_type="application/json", HTTP_X_API_KEY=key_a.secret
    )

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_it_tells_clients_not_to_retry_what_a_retry_cannot_mend(client, gateway, key_a) -> None:
    """`x-should-retry: false` on a 4xx (Claude Code would otherwise retry a 401 ten times);
    none on a 429 or a 5xx, which a later retry may get through."""
    bad_key = client.post(
        CHAT, data="{}", content_type="application/json", HTTP_X_API_KEY="sk-tg-not-a-key"
    )
    bad_body = send(client, CHAT, chat(messages="nope"), key_a)
    anthropic_bad_key = client.post(
        "/v1/messages", data="{}", content_type="application/json", HTTP_X_API_KEY="sk-tg-nope"
    )
    unknown_model = send(client, CHAT, chat(model="no-such-model"), key_a)
    upstream_down = send(
        client, CHAT, chat(messages=[{"role": "user", "content": "[[status:503]]"}]), key_a
    )

    for response in (bad_key, bad_body, anthropic_bad_key, unknown_model):
        assert response.status_code in (400, 401, 404)
        assert response["x-should-retry"] == "false"
    assert upstream_down.status_code >= 500
    assert "x-should-retry" not in upstream_down
