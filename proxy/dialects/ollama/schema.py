"""OpenAPI pieces of Ollama's endpoints: bodies, answers (JSON and NDJSON), errors in Ollama's
`{"error": "..."}` shape, each with an example as the gateway answered it in front of
bench/fake_upstream (times shortened)."""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from ... import schema as common
from ...errors import ApiError
from ...schema import ERRORS, body, ok  # noqa: F401 - re-exported for the views
from .render import NDJSON, error_body


class OllamaError(serializers.Serializer):
    error = serializers.CharField(help_text="what went wrong, in words")


common.RENDERERS[OllamaError] = error_body


# --- requests -----------------------------------------------------------------------------------

OPTIONS_HELP = (
    "Ollama's options: num_predict (max_tokens; 0 or negative: no limit), temperature, top_p, top_k, "
    "seed, stop, presence_penalty, frequency_penalty, repeat_penalty. Options of a local runner "
    "(num_ctx, num_gpu, mirostat, …) are accepted and ignored."
)


class OllamaMessage(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant", "tool"])
    content = serializers.CharField(required=False, allow_blank=True)
    images = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="base64 images (user messages)"
    )
    tool_calls = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='[{"function": {"name": …, "arguments": {…}}}] (assistant messages)',
    )
    tool_name = serializers.CharField(required=False, help_text="the tool a tool message answers")
    thinking = serializers.CharField(required=False, allow_blank=True)


class OllamaGenerationOptions(serializers.Serializer):
    model = serializers.CharField()
    stream = serializers.BooleanField(
        required=False, default=True, help_text="true (the default): NDJSON lines"
    )
    format = serializers.JSONField(required=False, help_text='"json" or a JSON schema')
    options = serializers.DictField(required=False, help_text=OPTIONS_HELP)
    think = serializers.JSONField(required=False, help_text='true, false, "low", "medium", "high"')
    keep_alive = serializers.JSONField(required=False, help_text="accepted, ignored")


class OllamaChatRequest(OllamaGenerationOptions):
    messages = OllamaMessage(many=True, required=False, help_text="none: load the model, no call")
    tools = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="function tools, OpenAI's shape"
    )


class OllamaGenerateRequest(OllamaGenerationOptions):
    prompt = serializers.CharField(required=False, allow_blank=True)
    system = serializers.CharField(required=False, allow_blank=True)
    images = serializers.ListField(child=serializers.CharField(), required=False)
    suffix = serializers.CharField(required=False, allow_blank=True, help_text="ignored")
    raw = serializers.BooleanField(required=False, help_text="ignored")


class OllamaEmbedRequest(serializers.Serializer):
    model = serializers.CharField()
    input = serializers.JSONField(help_text="a string or an array of strings")
    truncate = serializers.BooleanField(required=False)
    dimensions = serializers.IntegerField(required=False, min_value=1)
    options = serializers.DictField(required=False)
    keep_alive = serializers.JSONField(required=False)


class OllamaEmbeddingsRequest(serializers.Serializer):
    model = serializers.CharField()
    prompt = serializers.CharField()
    options = serializers.DictField(required=False)
    keep_alive = serializers.JSONField(required=False)


class OllamaShowRequest(serializers.Serializer):
    model = serializers.CharField()


# --- answers ------------------------------------------------------------------------------------


class OllamaTimings(serializers.Serializer):
    total_duration = serializers.IntegerField(required=False, help_text="nanoseconds")
    load_duration = serializers.IntegerField(required=False)
    prompt_eval_count = serializers.IntegerField(required=False, help_text="prompt tokens")
    prompt_eval_duration = serializers.IntegerField(required=False)
    eval_count = serializers.IntegerField(required=False, help_text="generated tokens")
    eval_duration = serializers.IntegerField(required=False)


class OllamaAnswerMessage(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True)
    thinking = serializers.CharField(required=False, allow_blank=True)
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)


class OllamaChatResponse(OllamaTimings):
    model = serializers.CharField()
    created_at = serializers.CharField()
    message = OllamaAnswerMessage()
    done = serializers.BooleanField()
    done_reason = serializers.CharField(required=False, allow_blank=True)


class OllamaGenerateResponse(OllamaTimings):
    model = serializers.CharField()
    created_at = serializers.CharField()
    response = serializers.CharField(allow_blank=True)
    thinking = serializers.CharField(required=False, allow_blank=True)
    done = serializers.BooleanField()
    done_reason = serializers.CharField(required=False, allow_blank=True)


class OllamaEmbedResponse(serializers.Serializer):
    model = serializers.CharField()
    embeddings = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    total_duration = serializers.IntegerField(required=False)
    load_duration = serializers.IntegerField(required=False)
    prompt_eval_count = serializers.IntegerField(required=False)


class OllamaEmbeddingsResponse(serializers.Serializer):
    embedding = serializers.ListField(child=serializers.FloatField())


class OllamaDetails(serializers.Serializer):
    parent_model = serializers.CharField(allow_blank=True)
    format = serializers.CharField(allow_blank=True)
    family = serializers.CharField(allow_blank=True)
    families = serializers.ListField(child=serializers.CharField(allow_blank=True))
    parameter_size = serializers.CharField(allow_blank=True)
    quantization_level = serializers.CharField(allow_blank=True)


class OllamaTag(serializers.Serializer):
    name = serializers.CharField()
    model = serializers.CharField()
    modified_at = serializers.CharField()
    size = serializers.IntegerField()
    digest = serializers.CharField()
    details = OllamaDetails()


class OllamaTagList(serializers.Serializer):
    models = OllamaTag(many=True)


class OllamaShowResponse(serializers.Serializer):
    license = serializers.CharField(allow_blank=True)
    modelfile = serializers.CharField()
    parameters = serializers.CharField(allow_blank=True)
    template = serializers.CharField(allow_blank=True)
    details = OllamaDetails()
    model_info = serializers.DictField()
    capabilities = serializers.ListField(child=serializers.CharField())
    modified_at = serializers.CharField()


class OllamaPsList(serializers.Serializer):
    models = serializers.ListField(child=serializers.DictField())


class OllamaVersion(serializers.Serializer):
    version = serializers.CharField()


# --- examples -----------------------------------------------------------------------------------

AT = "2026-01-15T09:29:04.332840Z"
NS = {
    "total_duration": 184_000_000,
    "load_duration": 0,
    "prompt_eval_count": 18,
    "prompt_eval_duration": 61_000_000,
    "eval_count": 3,
    "eval_duration": 123_000_000,
}
CHAT_REQUEST = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Say hello in French."}],
    "stream": False,
    "options": {"temperature": 0.2, "num_predict": 64},
}
CHAT_TOOLS_REQUEST = OpenApiExample(
    "streamed, with a tool",
    value={
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
    },
)
CHAT_RESPONSE = {
    "model": "llama3.2",
    "created_at": AT,
    "message": {"role": "assistant", "content": "Bonjour !"},
    "done_reason": "stop",
    "done": True,
    **NS,
}


def _lines(*values: dict[str, Any]) -> str:
    return "".join(json.dumps(v, separators=(",", ":"), ensure_ascii=False) + "\n" for v in values)


CHAT_LINES = _lines(
    {
        "model": "llama3.2",
        "created_at": AT,
        "message": {"role": "assistant", "content": "Bonjour"},
        "done": False,
    },
    {
        "model": "llama3.2",
        "created_at": AT,
        "message": {"role": "assistant", "content": " !"},
        "done": False,
    },
    {**CHAT_RESPONSE, "message": {"role": "assistant", "content": ""}},
)
GENERATE_REQUEST = {
    "model": "llama3.2",
    "system": "You are a poet.",
    "prompt": "Write a haiku about toll roads.",
    "stream": False,
}
GENERATE_RESPONSE = {
    "model": "llama3.2",
    "created_at": AT,
    "response": "Coins at the gate,\nthe road hums its metered song,\nmiles paid in silence.",
    "done": True,
    "done_reason": "stop",
    **NS,
}
GENERATE_LINES = _lines(
    {"model": "llama3.2", "created_at": AT, "response": "Coins", "done": False},
    {"model": "llama3.2", "created_at": AT, "response": " at the gate,", "done": False},
    {**GENERATE_RESPONSE, "response": ""},
)
EMBED_REQUEST = {"model": "nomic-embed-text", "input": ["The quick brown fox", "jumps over"]}
EMBED_RESPONSE = OpenApiExample(
    "example",
    summary="vectors shortened to 4 numbers",
    value={
        "model": "nomic-embed-text",
        "embeddings": [[0.2647, -0.3283, -0.2127, 0.2341], [0.0432, 0.2586, -0.4844, -0.2855]],
        "total_duration": 14_000_000,
        "load_duration": 0,
        "prompt_eval_count": 6,
    },
)
EMBEDDINGS_REQUEST = {"model": "nomic-embed-text", "prompt": "The quick brown fox"}
EMBEDDINGS_RESPONSE = {"embedding": [0.2647, -0.3283, -0.2127, 0.2341]}
SHOW_REQUEST = {"model": "llama3.2"}
DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llama",
    "families": ["llama"],
    "parameter_size": "",
    "quantization_level": "",
}
TAGS = {
    "models": [
        {
            "name": "llama3.2",
            "model": "llama3.2",
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 0,
            "digest": "3f4c1e0d5b9a8c7e6f5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918070",
            "details": DETAILS,
        }
    ]
}
SHOW = {
    "license": "",
    "modelfile": '# Modelfile generated by "ollama show"\nFROM llama3.2\n'
    'TEMPLATE """{{ .Prompt }}"""\nPARAMETER num_ctx 131072\n',
    "parameters": "num_ctx                        131072",
    "template": "{{ .Prompt }}",
    "details": DETAILS,
    "model_info": {
        "general.architecture": "llama",
        "general.basename": "llama3.2",
        "llama.context_length": 131072,
    },
    "capabilities": ["completion", "tools", "vision"],
    "modified_at": "2026-01-01T00:00:00Z",
}
PS: dict[str, Any] = {"models": []}
VERSION = {"version": "0.12.6"}
RUNNING = ok(OpenApiTypes.STR, "Ollama is running", description="a client's probe")

STREAM_DESCRIPTION = (
    "Streamed unless `stream` is false: `application/x-ndjson`, one JSON object a line, the last "
    "with `done: true`, `done_reason`, the token counts and durations (ns). An error after the "
    'stream started arrives as a last line `{"error": "..."}`.'
)


def streaming_ok(
    serializer: Any, answer: Any, lines: str
) -> dict[tuple[int, str], OpenApiResponse]:
    return {
        (200, "application/json"): ok(serializer, answer, description=STREAM_DESCRIPTION),
        (200, NDJSON): ok(serializer, lines, description=STREAM_DESCRIPTION),
    }


# --- errors -------------------------------------------------------------------------------------

BAD_OPTION = ApiError(
    400,
    "invalid_request_error",
    "options.temperature: expected a number, got string",
    param="options.temperature",
)
MODEL_REQUIRED = ApiError(400, "invalid_request_error", "model: is required", param="model")
MODEL_NOT_FOUND = ApiError(404, "model_not_found", 'model "gpt-9" not found, try pulling it first')


def errors(*items: int | str | ApiError) -> dict[int, OpenApiResponse]:
    return common.error_responses(*items, shape=OllamaError)


CALL_ERRORS = errors(BAD_OPTION, 401, 402, 403, MODEL_NOT_FOUND, 413, 429, 503, 504)
KEY_ERRORS = errors(401, "insufficient_scope", "no_active_subscription")
SHOW_ERRORS = errors(
    MODEL_REQUIRED,
    401,
    "insufficient_scope",
    "no_active_subscription",
    MODEL_NOT_FOUND,
    413,
)
