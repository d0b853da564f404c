"""The OpenAI dialect: OpenAI's wire format is the canonical one, so this dialect mostly frames it
(SSE `data:` lines, `[DONE]`, errors as `{"error": {...}}`) and hides what the client did not ask
for (the usage chunk without `stream_options.include_usage`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, JsonResponse

from billing.metering import Call

from ...errors import ApiError, openai_response
from ...providers.base import public

DONE = b"data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> bytes:
    return (
        b"data: "
        + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        + b"\n\n"
    )


class OpenAIDialect:
    name = "openai"
    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self, *, include_usage: bool = False) -> None:
        self.include_usage = include_usage

    def error_response(self, error: ApiError) -> HttpResponse:
        return openai_response(error)

    def render(self, call: Call, result: dict[str, Any]) -> HttpResponse:
        return JsonResponse(public(result), json_dumps_params={"ensure_ascii": False})

    def render_stream(self, call: Call, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        for chunk in chunks:
            if not self.include_usage:
                if not chunk.get("choices") and chunk.get("usage"):
                    continue  # the usage-only chunk the client did not ask for
                chunk.pop("usage", None)
            yield sse(chunk)
        yield DONE

    def stream_error(self, error: ApiError) -> bytes:
        return sse(error.openai_body())


def wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
