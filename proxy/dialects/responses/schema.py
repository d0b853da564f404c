"""OpenAPI pieces of the Responses API: request and answer serializers, examples taken from what
the gateway answered in front of bench/fake_upstream (ids shortened, times fixed)."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from ...errors import ApiError
from ...schema import CREATED


class ResponseCreateRequest(serializers.Serializer):
    model = serializers.CharField(help_text="A model name or alias from GET /v1/models")
    input = serializers.JSONField(
        help_text="A string, or input items: messages ({role: user|assistant|system|developer, "
        "content: a string or parts input_text / input_image / output_text}), function_call, "
        "function_call_output, reasoning, …"
    )
    instructions = serializers.CharField(required=False, help_text="a system message, first")
    tools = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='function tools: {"type": "function", "name", "description", "parameters"}',
    )
    tool_choice = serializers.JSONField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False)
    text = serializers.DictField(
        required=False, help_text='{"format": {"type": "json_schema", "name", "schema"}}'
    )
    reasoning = serializers.DictField(required=False, help_text='{"effort": "low"}')
    max_output_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    user = serializers.CharField(required=False, help_text="end user, kept in usage records")
    metadata = serializers.DictField(child=serializers.CharField(), required=False)
    store = serializers.BooleanField(
        required=False,
        default=True,
        help_text="keep the response for previous_response_id and GET (RESPONSES_RETENTION_DAYS)",
    )
    previous_response_id = serializers.CharField(required=False)
    include = serializers.ListField(child=serializers.CharField(), required=False)
    prompt_cache_key = serializers.CharField(required=False)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = serializers.DictField(required=False)


class ResponseUsage(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    input_tokens_details = serializers.DictField()
    output_tokens = serializers.IntegerField()
    output_tokens_details = serializers.DictField()
    total_tokens = serializers.IntegerField()


class ResponseObject(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="response")
    created_at = serializers.IntegerField()
    status = serializers.ChoiceField(["completed", "incomplete", "in_progress", "failed"])
    error = serializers.DictField(allow_null=True)
    incomplete_details = serializers.DictField(allow_null=True)
    instructions = serializers.CharField(allow_null=True)
    model = serializers.CharField()
    output = serializers.ListField(
        child=serializers.DictField(),
        help_text="items: reasoning, message (output_text parts), function_call",
    )
    parallel_tool_calls = serializers.BooleanField()
    previous_response_id = serializers.CharField(allow_null=True)
    store = serializers.BooleanField()
    tool_choice = serializers.JSONField()
    tools = serializers.ListField(child=serializers.DictField())
    usage = ResponseUsage(allow_null=True)
    metadata = serializers.DictField()


class ResponseDeleted(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="response.deleted")
    deleted = serializers.BooleanField()


SSE_DESCRIPTION = (
    "With stream: true, a text/event-stream of typed events (`event: <type>` and `data: {...}`, "
    "each with a sequence_number): response.created, response.in_progress, then per output item "
    "response.output_item.added, response.content_part.added, response.output_text.delta…, "
    "response.output_text.done, response.content_part.done (function calls: "
    "response.function_call_arguments.delta… and .done; reasoning: response.reasoning_text.*), "
    "response.output_item.done, and last response.completed with usage (response.incomplete when "
    "cut by max_output_tokens). A failure after the start ends the stream with response.failed."
)

NOT_FOUND = ApiError(404, "not_found", "Response with id 'resp_0a1b2c' not found.")
PREVIOUS_NOT_FOUND = ApiError(
    400,
    "previous_response_not_found",
    "Previous response with id 'resp_0a1b2c' not found.",
    param="previous_response_id",
)
BAD_ROLE = ApiError(
    400,
    "invalid_request_error",
    'input[2].role: unknown role "robot"; expected one of user, assistant, system, developer',
    param="input[2].role",
)

RESPONSE_REQUEST = {
    "model": "llama3.2",
    "instructions": "You are a concise assistant.",
    "input": "Say hello in French.",
    "max_output_tokens": 64,
}
RESPONSE_ITEMS_REQUEST = OpenApiExample(
    "input items with a function tool",
    value={
        "model": "llama3.2",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {
                "type": "function_call",
                "call_id": "call_wcSLGI6Y4mYBOxQ1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_wcSLGI6Y4mYBOxQ1", "output": "18°C"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Current weather of a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        ],
        "store": False,
    },
)
RESPONSE_STREAM_REQUEST = OpenApiExample("streamed", value={**RESPONSE_REQUEST, "stream": True})
_USAGE = {
    "input_tokens": 18,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 2,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 20,
}
_MESSAGE = {
    "id": "msg_7f3c",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Bonjour !", "annotations": [], "logprobs": []}],
}


def _response(status: str, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_0a1b2c",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": False,
        "completed_at": CREATED + 1 if status == "completed" else None,
        "error": None,
        "incomplete_details": None,
        "instructions": "You are a concise assistant.",
        "max_output_tokens": 64,
        "max_tool_calls": None,
        "model": "llama3.2",
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


RESPONSE = _response("completed", [_MESSAGE], _USAGE)
RESPONSE_DELETED = {"id": "resp_0a1b2c", "object": "response.deleted", "deleted": True}


def _events(*events: tuple[str, dict[str, Any]]) -> str:
    lines = []
    for number, (kind, fields) in enumerate(events):
        payload = {"type": kind, **fields, "sequence_number": number}
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"event: {kind}\ndata: {data}\n\n")
    return "".join(lines)


_AT = {"item_id": "msg_7f3c", "output_index": 0, "content_index": 0}
_EMPTY = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
RESPONSE_EVENTS = _events(
    ("response.created", {"response": _response("in_progress", [], None)}),
    ("response.in_progress", {"response": _response("in_progress", [], None)}),
    (
        "response.output_item.added",
        {"output_index": 0, "item": {**_MESSAGE, "status": "in_progress", "content": []}},
    ),
    ("response.content_part.added", {**_AT, "part": _EMPTY}),
    ("response.output_text.delta", {**_AT, "delta": "Bonjour", "logprobs": []}),
    ("response.output_text.delta", {**_AT, "delta": " !", "logprobs": []}),
    ("response.output_text.done", {**_AT, "text": "Bonjour !", "logprobs": []}),
    ("response.content_part.done", {**_AT, "part": _MESSAGE["content"][0]}),
    ("response.output_item.done", {"output_index": 0, "item": _MESSAGE}),
    ("response.completed", {"response": RESPONSE}),
)
