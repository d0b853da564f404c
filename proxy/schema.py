"""OpenAPI components shared by every endpoint, and the helpers that give every operation its
examples (what Postman's import and Swagger UI's "Try it out" fill in).

How an endpoint is documented (a new app does the same; tests/test_api_docs.py fails when an
operation with a body, or a 2xx JSON answer, has no example):

    from proxy import schema
    from proxy.errors import ApiError

    # in the app's schema module: example values taken from what the endpoint really answers
    THING = {"id": "…", "object": "thing", …}
    THING_NOT_FOUND = ApiError(404, "thing_not_found", "No thing with id 'x'.")

    # in the view module, only the decorator's arguments
    @extend_schema(
        request=schema.body(ThingCreate, {"name": "Support bot"}),       # one or more examples
        responses={
            201: schema.ok(ThingObject, THING),
            **schema.error_responses(400, 401, "insufficient_scope", THING_NOT_FOUND),
        },
    )

- `body(serializer, *examples)` / `ok(serializer, *examples, description=…)`: a request body or
  a response with examples. An example is a value (named "example", "example 2", …) or an
  OpenApiExample (its own name and summary); media type and status come from where it is used.
- `error_responses(*errors, shape=OpenAIError)`: one response per status, its description the
  codes, one example per code, rendered by the gateway's own renderers (`ApiError.openai_body`,
  the Anthropic dialect's `error_body`) so the example is byte for byte the shape a client gets.
  An error is an ApiError, a code of `known` (default ERRORS, the gateway's common errors) or a
  status: every error of `known` with that status. `anthropic_error_responses` is the same in
  Anthropic's shape. `missing_scope(scope)` is the 403 a key without the view's scope gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    PolymorphicProxySerializer,
)
from rest_framework import serializers

from config.dbprobe import unavailable

from .errors import ApiError


class OpenAIErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    details = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="every fault, when there are several (a dataset's lines)",
    )


class OpenAIError(serializers.Serializer):
    """The OpenAI error shape, used on every endpoint except the Anthropic ones."""

    error = OpenAIErrorDetail()


# --- chat ---------------------------------------------------------------------------------------


class ChatMessage(serializers.Serializer):
    role = serializers.ChoiceField(["system", "developer", "user", "assistant", "tool"])
    content = serializers.JSONField(
        help_text="A string, or an array of parts: {type: text, text} / {type: image_url, image_url: {url}}",
        allow_null=True,
    )
    name = serializers.CharField(required=False)
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)
    tool_call_id = serializers.CharField(required=False)


class ChatCompletionRequest(serializers.Serializer):
    model = serializers.CharField(
        help_text='A model name or alias from GET /v1/models, or "agent:<name>" to call one of '
        "the workspace's agents (scope chat_agent)"
    )
    messages = ChatMessage(many=True)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False, help_text="A string or up to 4 strings")
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    seed = serializers.IntegerField(required=False)
    response_format = serializers.DictField(required=False)
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    tool_choice = serializers.JSONField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False)
    user = serializers.CharField(required=False, help_text="end user, kept in usage records")
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = serializers.DictField(required=False, help_text='{"include_usage": true}')


class Usage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatChoice(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChatMessage()
    finish_reason = serializers.CharField(allow_null=True)


class ChatCompletion(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="chat.completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChatChoice(many=True)
    usage = Usage()


class CompletionRequest(serializers.Serializer):
    model = serializers.CharField()
    prompt = serializers.JSONField(help_text="A string or an array of strings")
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    stop = serializers.JSONField(required=False)
    stream = serializers.BooleanField(required=False, default=False)


class CompletionChoice(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()
    finish_reason = serializers.CharField(allow_null=True)


class Completion(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="text_completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = CompletionChoice(many=True)
    usage = Usage()


class EmbeddingRequest(serializers.Serializer):
    model = serializers.CharField()
    input = serializers.JSONField(help_text="A string or an array of strings")
    dimensions = serializers.IntegerField(required=False, min_value=1)


class Embedding(serializers.Serializer):
    object = serializers.CharField(default="embedding")
    index = serializers.IntegerField()
    embedding = serializers.ListField(child=serializers.FloatField())


class EmbeddingList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = Embedding(many=True)
    model = serializers.CharField()
    usage = serializers.DictField()


class GenerateRequest(serializers.Serializer):
    model = serializers.CharField()
    prompt = serializers.CharField()
    system = serializers.CharField(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)


class Generation(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="text.generation")
    created = serializers.IntegerField()
    model = serializers.CharField()
    response = serializers.CharField()
    finish_reason = serializers.CharField(allow_null=True)
    usage = Usage()


class ModelObject(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="model")
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = ModelObject(many=True)


class RichModelObject(ModelObject):
    kind = serializers.ChoiceField(["chat", "embedding"])
    description = serializers.CharField()
    context_window = serializers.IntegerField()
    pricing = serializers.DictField(help_text="input_per_mtok, output_per_mtok (USD strings)")
    quota_weight = serializers.DictField(help_text="request-quota units per call: offpeak, peak")
    capabilities = serializers.ListField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())


class RichModelList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = RichModelObject(many=True)


class AnthropicModelObject(serializers.Serializer):
    type = serializers.CharField(default="model")
    id = serializers.CharField()
    display_name = serializers.CharField()
    created_at = serializers.DateTimeField(help_text="RFC 3339")


class AnthropicModelList(serializers.Serializer):
    data = AnthropicModelObject(many=True)
    has_more = serializers.BooleanField()
    first_id = serializers.CharField(allow_null=True)
    last_id = serializers.CharField(allow_null=True)


def _either(name: str, openai: Any) -> PolymorphicProxySerializer:
    anthropic = AnthropicModelList if "List" in name else AnthropicModelObject
    return PolymorphicProxySerializer(
        component_name=name, serializers=[openai, anthropic], resource_type_field_name=None
    )


ModelListAnyShape = _either("ModelListAnyShape", ModelList)
RichModelListAnyShape = _either("RichModelListAnyShape", RichModelList)
ModelObjectAnyShape = _either("ModelObjectAnyShape", ModelObject)
RichModelObjectAnyShape = _either("RichModelObjectAnyShape", RichModelObject)

ANTHROPIC_VERSION = OpenApiParameter(
    "anthropic-version",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Sent by the anthropic SDKs and Claude Code: the answer (errors included) is "
    "then in Anthropic's shape.",
)
MODEL_PARAMETERS = [ANTHROPIC_VERSION]
MODEL_LIST_PARAMETERS = [
    ANTHROPIC_VERSION,
    OpenApiParameter(
        "limit", int, description="Anthropic's shape: models per page (1-1000, default 20)"
    ),
    OpenApiParameter("after_id", str, description="Anthropic's shape: the page after this id"),
    OpenApiParameter("before_id", str, description="Anthropic's shape: the page before this id"),
]
MODEL_LIST_DESCRIPTION = (
    "OpenAI's list shape; with `anthropic-version`, Anthropic's (`data` of model objects, "
    "`has_more`, `first_id`, `last_id`)."
)
MODEL_DESCRIPTION = (
    "The model reported under the name asked for (an alias stays the alias); OpenAI's shape, "
    "or Anthropic's with `anthropic-version`."
)


# --- Anthropic Messages -------------------------------------------------------------------------


class AnthropicMessageParam(serializers.Serializer):
    role = serializers.ChoiceField(["user", "assistant"])
    content = serializers.JSONField(
        help_text="A string, or content blocks: text, image (base64 or url source), document, "
        "tool_use, tool_result, thinking, redacted_thinking"
    )


class AnthropicCountTokensRequest(serializers.Serializer):
    model = serializers.CharField(
        help_text="A model name, alias or glob-matched Anthropic name (claude-sonnet-4-…); an "
        "unknown name is served by the catalog's default_model"
    )
    messages = AnthropicMessageParam(many=True)
    system = serializers.JSONField(
        required=False, help_text="A string or an array of text blocks (cache_control accepted)"
    )
    tools = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="{name, description, input_schema}"
    )
    tool_choice = serializers.DictField(
        required=False, help_text='{"type": "auto" | "any" | "tool" | "none", "name"?}'
    )
    thinking = serializers.DictField(
        required=False, help_text='{"type": "enabled", "budget_tokens": N}'
    )


class AnthropicMessagesRequest(AnthropicCountTokensRequest):
    max_tokens = serializers.IntegerField(min_value=1)
    stop_sequences = serializers.ListField(child=serializers.CharField(), required=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=1)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    top_k = serializers.IntegerField(required=False, min_value=0)
    metadata = serializers.DictField(
        required=False, help_text="user_id: the end user, kept in usage records"
    )
    stream = serializers.BooleanField(required=False, default=False)


class AnthropicUsage(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_creation_input_tokens = serializers.IntegerField()
    cache_read_input_tokens = serializers.IntegerField()


class AnthropicMessage(serializers.Serializer):
    id = serializers.CharField(help_text="msg_…")
    type = serializers.CharField(default="message")
    role = serializers.CharField(default="assistant")
    model = serializers.CharField(help_text="the name the client sent")
    content = serializers.ListField(
        child=serializers.DictField(), help_text="text, thinking and tool_use blocks"
    )
    stop_reason = serializers.ChoiceField(["end_turn", "max_tokens", "stop_sequence", "tool_use"])
    stop_sequence = serializers.CharField(allow_null=True)
    usage = AnthropicUsage()


class AnthropicTokenCount(serializers.Serializer):
    input_tokens = serializers.IntegerField()


class AnthropicErrorDetail(serializers.Serializer):
    type = serializers.CharField(help_text="authentication_error, rate_limit_error, …")
    message = serializers.CharField()


class AnthropicError(serializers.Serializer):
    """Anthropic's error shape, used on /v1/messages and /v1/messages/count_tokens."""

    type = serializers.CharField(default="error")
    error = AnthropicErrorDetail()


ErrorAnyShape = PolymorphicProxySerializer(
    component_name="OpenAIOrAnthropicError",
    serializers=[OpenAIError, AnthropicError],
    resource_type_field_name=None,
)

ANTHROPIC_SSE_DESCRIPTION = (
    "With stream: true, Anthropic's server-sent events: message_start, content_block_start, ping, "
    "content_block_delta (text_delta, input_json_delta, thinking_delta), content_block_stop, "
    "message_delta (stop_reason, usage), message_stop. An error after the stream started "
    "arrives as a final `event: error`."
)


SSE_DESCRIPTION = (
    "With stream: true, a text/event-stream of `data: {chat.completion.chunk}` lines ending with "
    "`data: [DONE]`; the usage chunk comes only with stream_options.include_usage. An error after "
    'the stream started arrives as a final `data: {"error": {...}}` event.'
)


# --- examples -----------------------------------------------------------------------------------

Example = OpenApiExample | Any


def _examples(values: tuple[Example, ...]) -> list[OpenApiExample]:
    """Values become examples named "example", "example 2", …; OpenApiExamples stay as they are."""
    return [
        value
        if isinstance(value, OpenApiExample)
        else OpenApiExample("example" if i == 1 else f"example {i}", value=value)
        for i, value in enumerate(values, start=1)
    ]


def body(serializer: Any, *examples: Example) -> OpenApiRequest:
    """A request body with its examples (at least one)."""
    assert examples, "a request body needs an example"
    return OpenApiRequest(serializer, examples=_examples(examples))


def ok(serializer: Any, *examples: Example, description: str = "") -> OpenApiResponse:
    """A 2xx response with its examples (at least one)."""
    assert examples, "a response needs an example"
    return OpenApiResponse(serializer, description=description, examples=_examples(examples))


def openai_body(error: ApiError) -> dict[str, Any]:
    return error.openai_body()


def anthropic_body(error: ApiError) -> dict[str, Any]:
    from .dialects.anthropic import error_body  # the dialect imports the pipeline

    return error_body(error)


RENDERERS = {OpenAIError: openai_body, AnthropicError: anthropic_body}


def missing_scope(scope: str) -> ApiError:
    """The 403 a key without the view's `required_scope` gets (keys.permissions.HasScope)."""
    return ApiError(
        403,
        "insufficient_scope",
        f"This API key lacks the '{scope}' scope required by this endpoint.",
    )


def catalogue(*errors: ApiError) -> dict[str, ApiError]:
    """Errors by code, for `error_responses(..., known=…)`."""
    return {error.code: error for error in errors}


# The gateway's common errors, as pipeline, keys, billing and router raise them.
ERRORS = catalogue(
    ApiError(400, "invalid_request_error", "messages: is required", param="messages"),
    ApiError(
        401,
        "invalid_api_key",
        "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
    ),
    ApiError(
        402,
        "insufficient_credit",
        "Your prepaid balance cannot cover this call (its cost at max_tokens). Top up in the "
        "dashboard, redeem a code, or lower max_tokens.",
    ),
    missing_scope("chat"),
    ApiError(
        403,
        "key_limit_reached",
        "Key limit reached: this API key's monthly cap of 500 credits would be exceeded by this "
        "call. It resets at 2026-01-01 00:00 UTC; an owner or admin of the workspace can raise "
        "or remove the cap on the dashboard's Keys page.",
    ),
    ApiError(
        403,
        "no_active_subscription",
        "The workspace of this API key has no active subscription.",
    ),
    ApiError(
        403,
        "model_not_allowed",
        "Your plan or API key does not allow the model 'llama3.1:70b'.",
        param="model",
    ),
    ApiError(
        403,
        "tier_not_allowed",
        "Tier 'ludicrous' is not included in your plan (allowed: slow, medium).",
    ),
    ApiError(
        404,
        "model_not_found",
        "The model 'gpt-9' does not exist. GET /v1/models lists the models you can use.",
        param="model",
    ),
    ApiError(413, "request_too_large", "Request body is larger than the limit of 20971520 bytes."),
    ApiError(
        429,
        "rate_limit_exceeded",
        "Rate limit exceeded: requests per minute. Retry after 12 s (2026-01-15 09:30:12 UTC).",
        headers={"Retry-After": "12"},
    ),
    ApiError(
        503,
        "upstream_unavailable",
        "No upstream could serve llama3.2 right now; retry in 15 s.",
        headers={"Retry-After": "15"},
    ),
    ApiError(
        503,
        "limits_unavailable",
        "The gateway cannot check your plan's limits right now; retry shortly.",
        headers={"Retry-After": "5"},
    ),
    unavailable(),  # 503 database_unavailable
    ApiError(504, "upstream_timeout", "The upstream serving llama3.2 did not answer in time."),
)

# The 400 of the model list's pages (Anthropic's limit, after_id, before_id).
BAD_MODEL_PAGE = ApiError(
    400,
    "invalid_request_error",
    "limit: Input should be an integer between 1 and 1000",
    param="limit",
)
# The 400 of the endpoints whose body has no `messages`.
PROMPT_REQUIRED = ApiError(400, "invalid_request_error", "prompt: is required", param="prompt")
INPUT_REQUIRED = ApiError(400, "invalid_request_error", "input: is required", param="input")


def error_responses(
    *errors: int | str | ApiError,
    shape: type[serializers.Serializer] = OpenAIError,
    known: Mapping[str, ApiError] = ERRORS,
) -> dict[int, OpenApiResponse]:
    """{status: response} for the errors an endpoint answers: an ApiError, a code of `known`, or
    a status (every error of `known` with it). Each response lists its codes and shows one
    example per code in `shape` (OpenAIError or AnthropicError)."""
    by_status: dict[int, list[ApiError]] = {}
    for item in errors:
        if isinstance(item, ApiError):
            found = [item]
        elif isinstance(item, str):
            found = [known[item]]
        else:
            found = [e for e in known.values() if e.status == item]
            assert found, f"no error with status {item} among {sorted(known)}"
        for error in found:
            by_status.setdefault(error.status, []).append(error)
    render = RENDERERS[shape]
    return {
        status: OpenApiResponse(
            shape,
            description=_describe(found),
            examples=[OpenApiExample(e.code, value=render(e)) for e in found],
        )
        for status, found in sorted(by_status.items())
    }


def either_error_responses(*errors: int | str | ApiError) -> dict[int, OpenApiResponse]:
    """The errors of an endpoint that answers in OpenAI's shape, or Anthropic's when the client
    sends `anthropic-version` (the model list): both shapes, an example of each per code."""
    openai, anthropic = error_responses(*errors), anthropic_error_responses(*errors)
    return {
        status: OpenApiResponse(
            ErrorAnyShape,
            description=f"{response.description}; in Anthropic's shape with anthropic-version",
            examples=[
                *response.examples,
                *(
                    OpenApiExample(f"{e.name} (anthropic-version)", value=e.value)
                    for e in anthropic[status].examples
                ),
            ],
        )
        for status, response in openai.items()
    }


def _describe(errors: list[ApiError]) -> str:
    codes = list(dict.fromkeys(e.code for e in errors))
    text = codes[0] if len(codes) == 1 else ", ".join(codes[:-1]) + f" or {codes[-1]}"
    if any("Retry-After" in e.headers for e in errors):
        text += " (Retry-After says when to retry)"
    return text


def anthropic_error_responses(
    *errors: int | str | ApiError, known: Mapping[str, ApiError] = ERRORS
) -> dict[int, OpenApiResponse]:
    return error_responses(*errors, shape=AnthropicError, known=known)


class ServerSentEvent(serializers.Serializer):
    """One event of a text/event-stream answer. OpenAPI 3.0 has no `itemSchema`, so the schema of
    an event stream describes each event (as schemathesis and OpenAPI 3.2 read it); the example is
    a whole stream as sent."""

    event = serializers.CharField(
        required=False, help_text="the event's type (Anthropic: message_start, …); none on OpenAI"
    )
    data = serializers.CharField(help_text="a JSON object, or [DONE] at the end of OpenAI streams")
    id = serializers.CharField(required=False)
    retry = serializers.IntegerField(required=False)


def events_ok(events: str, *, description: str) -> OpenApiResponse:
    """A text/event-stream answer: its events' schema and the whole stream as the example."""
    return ok(ServerSentEvent, events, description=description)


def streaming_ok(
    serializer: Any, answer: Example, events: str, *, description: str
) -> dict[tuple[int, str], OpenApiResponse]:
    """A 200 that is JSON, or server-sent events with stream: true: both, with an example each."""
    return {
        (200, "application/json"): ok(serializer, answer, description=description),
        (200, "text/event-stream"): events_ok(events, description=description),
    }


# Example values, as the gateway answered them in front of bench/fake_upstream (ids and times
# shortened or fixed; the shapes and numbers are the real ones).

CREATED = 1767225600  # 2026-01-01T00:00:00Z
CHAT_REQUEST = {
    "model": "llama3.2",
    "messages": [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Say hello in French."},
    ],
    "max_tokens": 64,
    "temperature": 0.2,
}
CHAT_STREAM_REQUEST = OpenApiExample(
    "streamed, with usage",
    value={**CHAT_REQUEST, "stream": True, "stream_options": {"include_usage": True}},
)
CHAT_COMPLETION = {
    "id": "chatcmpl-dUP5AXPWW4UlXdQQEJA33YoZO084r",
    "object": "chat.completion",
    "created": CREATED,
    "model": "llama3.2",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Bonjour !"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 25, "completion_tokens": 2, "total_tokens": 27},
}


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    import json

    chunk = {
        "id": "chatcmpl-e33t7a6PDdwo0U6h2ssbJxOGStFDb",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "llama3.2",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False, separators=(',', ':'))}\n\n"


CHAT_EVENTS = (
    _chunk({"role": "assistant", "content": ""})
    + _chunk({"content": "Bonjour"})
    + _chunk({"content": " !"})
    + _chunk({}, "stop")
    + "data: [DONE]\n\n"
)
COMPLETION_REQUEST = {"model": "llama3.2", "prompt": "Once upon a time", "max_tokens": 32}
COMPLETION = {
    "id": "cmpl-8b08KJcuADa4q9DlKrb1ysMh1pa04",
    "object": "text_completion",
    "created": CREATED,
    "model": "llama3.2",
    "choices": [{"index": 0, "text": "there was a gateway.", "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20},
}
COMPLETION_EVENTS = (
    'data: {"id":"cmpl-8b08KJcuADa4q9DlKrb1ysMh1pa04","object":"text_completion","created":1767225600,"model":"llama3.2","choices":[{"text":"there","index":0,"logprobs":null,"finish_reason":null}],"system_fingerprint":"fp_a8e1faffe0"}\n'
    "\n"
    'data: {"id":"cmpl-8b08KJcuADa4q9DlKrb1ysMh1pa04","object":"text_completion","created":1767225600,"model":"llama3.2","choices":[{"text":" was","index":0,"logprobs":null,"finish_reason":null}],"system_fingerprint":"fp_a8e1faffe0"}\n'
    "\n"
    'data: {"id":"cmpl-8b08KJcuADa4q9DlKrb1ysMh1pa04","object":"text_completion","created":1767225600,"model":"llama3.2","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}],"system_fingerprint":"fp_a8e1faffe0"}\n'
    "\n"
    "data: [DONE]\n"
    "\n"
)
EMBEDDING_REQUEST = {
    "model": "nomic-embed-text",
    "input": ["The quick brown fox", "jumps over the lazy dog"],
}
EMBEDDING_LIST = OpenApiExample(
    "example",
    summary="vectors shortened to 4 numbers (nomic-embed-text gives 768)",
    value={
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.2647, -0.3283, -0.2127, 0.2341]},
            {"object": "embedding", "index": 1, "embedding": [0.0432, 0.2586, -0.4844, -0.2855]},
        ],
        "model": "nomic-embed-text",
        "usage": {"prompt_tokens": 9, "total_tokens": 9},
    },
)
GENERATE_REQUEST = {
    "model": "llama3.2",
    "system": "You are a poet.",
    "prompt": "Write a haiku about toll roads.",
    "max_tokens": 64,
}
GENERATION = {
    "id": "chatcmpl-uTHq2ILvI9YjYKuXYEZvX1597dTmj",
    "object": "text.generation",
    "created": CREATED,
    "model": "llama3.2",
    "response": "Coins at the gate,\nthe road hums its metered song,\nmiles paid in silence.",
    "finish_reason": "stop",
    "usage": {"prompt_tokens": 27, "completion_tokens": 19, "total_tokens": 46},
}
MESSAGES_REQUEST = {
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 256,
    "system": "You are a concise assistant.",
    "messages": [{"role": "user", "content": "Say hello in French."}],
}
COUNT_TOKENS_REQUEST = {k: v for k, v in MESSAGES_REQUEST.items() if k != "max_tokens"}
ANTHROPIC_MESSAGE = {
    "id": "msg_chatcmplk126dKPwTXio1qKP70YCClhVrJMC9",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-latest",
    "content": [{"type": "text", "text": "Bonjour !"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 25,
        "output_tokens": 2,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}
ANTHROPIC_EVENTS = (
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_chatcmplk126dKPwTXio1qKP70YCClhVrJMC9","type":"message","role":"assistant","model":"claude-3-5-haiku-latest","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}\n'
    "\n"
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n'
    "\n"
    "event: ping\n"
    'data: {"type":"ping"}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" !"}}\n'
    "\n"
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":0}\n'
    "\n"
    "event: message_delta\n"
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}\n'
    "\n"
    "event: message_stop\n"
    'data: {"type":"message_stop"}\n'
    "\n"
)
TOKEN_COUNT = {"input_tokens": 25}
MODEL = {"id": "llama3.2", "object": "model", "created": CREATED, "owned_by": "tollgate"}
MODEL_LIST = {
    "object": "list",
    "data": [
        MODEL,
        {"id": "nomic-embed-text", "object": "model", "created": CREATED, "owned_by": "tollgate"},
    ],
}
ANTHROPIC_MODEL = {
    "type": "model",
    "id": "claude-sonnet-4-6",
    "display_name": "claude-sonnet-4-6",
    "created_at": "2026-01-01T00:00:00Z",
}
ANTHROPIC_MODEL_EXAMPLE = OpenApiExample(
    "anthropic-version sent", value=ANTHROPIC_MODEL, summary="Anthropic's shape"
)
ANTHROPIC_MODEL_LIST_EXAMPLE = OpenApiExample(
    "anthropic-version sent",
    summary="Anthropic's shape",
    value={
        "data": [
            {**ANTHROPIC_MODEL, "id": "llama3.2", "display_name": "llama3.2"},
            {**ANTHROPIC_MODEL, "id": "nomic-embed-text", "display_name": "nomic-embed-text"},
        ],
        "has_more": False,
        "first_id": "llama3.2",
        "last_id": "nomic-embed-text",
    },
)
RICH_MODEL = {
    **MODEL,
    "kind": "chat",
    "description": "Fast and efficient for simple tasks",
    "context_window": 131072,
    "pricing": {"input_per_mtok": "0.050000", "output_per_mtok": "0.100000", "currency": "USD"},
    "quota_weight": {"offpeak": 1, "peak": 1},
    "capabilities": ["tools", "vision", "json", "streaming"],
    "aliases": ["gpt-4o-mini", "claude-3-5-haiku*"],
}
RICH_MODEL_LIST = {
    "object": "list",
    "data": [
        RICH_MODEL,
        {
            "id": "nomic-embed-text",
            "object": "model",
            "created": CREATED,
            "owned_by": "tollgate",
            "kind": "embedding",
            "description": "",
            "context_window": 8192,
            "pricing": {
                "input_per_mtok": "0.000000",
                "output_per_mtok": "0.000000",
                "currency": "USD",
            },
            "quota_weight": {"offpeak": 1, "peak": 1},
            "capabilities": [],
            "aliases": ["text-embedding-3-small"],
        },
    ],
}

# --- the workspace's own Ollama (proxy.local_api) ----------------------------------------------

CONNECT_LOCAL = {"base_url": "https://ollama.example.com:11434", "api_key": "my-ollama-token"}
LOCAL_CONNECTION = {
    "base_url": "https://ollama.example.com:11434",
    "address": "203.0.113.7",
    "has_api_key": True,
    "active": True,
    "verified_at": "2026-01-15T09:30:00.123456+00:00",
    "models": [
        {"id": "local/llama3.2", "upstream_model": "llama3.2:latest", "kind": "chat"},
    ],
}
LOCAL_ERRORS = catalogue(
    ApiError(
        400,
        "invalid_base_url",
        "base_url: expected a URL such as http://ollama.example.com:11434",
        param="base_url",
    ),
    ApiError(
        400,
        "host_not_found",
        "base_url: the host 'ollama.example.com' could not be resolved.",
        param="base_url",
    ),
    ApiError(
        400,
        "address_not_allowed",
        "base_url: '10.0.0.5' is or resolves to a loopback, private, link-local, metadata or "
        "otherwise non-public address. Your server must be reachable at a public address.",
        param="base_url",
    ),
    ApiError(
        400,
        "redirect_not_allowed",
        "https://ollama.example.com:11434/api/tags answered 301 (a redirect to "
        "https://ollama.example.com/api/tags). Redirects are not followed: use the server's own "
        "address as base_url.",
        param="base_url",
    ),
    ApiError(
        400,
        "connection_failed",
        "https://ollama.example.com:11434/api/tags refused the request (401): check api_key.",
        param="base_url",
    ),
    ApiError(
        400,
        "invalid_request_error",
        "token: unknown field; expected base_url and api_key",
        param="token",
    ),
    ERRORS["invalid_api_key"],
    missing_scope("local_model_access"),
    ERRORS["no_active_subscription"],
    ApiError(
        404,
        "no_local_connection",
        "This workspace has no Ollama connection; PUT /api/v1/local/connection creates one.",
    ),
    ApiError(409, "conflict", "The connection was being changed at the same time; try again."),
    ERRORS["request_too_large"],
)
