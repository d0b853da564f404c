"""The Responses dialect object the pipeline renders with (one per request: it knows the request
it answers, and streams keep their sequence numbers and items on it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpResponse, JsonResponse

from billing.metering import Call

from ...errors import ApiError, openai_response
from .parse import ResponsesRequest
from .render import ResponseShape, StreamRenderer, completed_object

Keep = Callable[[dict[str, Any]], None]


class DeliveredJsonResponse(JsonResponse):
    """A JSON answer that runs `after` once the server has sent it (close(), which every WSGI
    server calls): the response is stored off the latency path."""

    def __init__(self, data: dict[str, Any], after: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(data, json_dumps_params={"ensure_ascii": False}, **kwargs)
        self._after = after

    def close(self) -> None:
        try:
            super().close()
        finally:
            after, self._after = self._after, None
            if after is not None:
                after()


class ResponsesDialect:
    name = "responses"
    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self, request: ResponsesRequest | None = None, keep: Keep | None = None) -> None:
        self.request = request
        self.keep = keep
        self.renderer: StreamRenderer | None = None

    def error_response(self, error: ApiError) -> HttpResponse:
        return openai_response(error)

    def render(self, call: Call, result: dict[str, Any]) -> HttpResponse:
        assert self.request is not None
        answer, _usage = completed_object(ResponseShape(self.request, call.requested_model), result)
        keep = self.keep
        if keep is None or answer.get("status") == "failed":
            return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})
        return DeliveredJsonResponse(answer, lambda: keep(answer))

    def render_stream(self, call: Call, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        yield from self.stream_renderer(call).events(chunks)

    def stream_renderer(self, call: Call) -> StreamRenderer:
        assert self.request is not None
        if self.renderer is None:
            shape = ResponseShape(self.request, call.requested_model)
            self.renderer = StreamRenderer(shape, self.keep)
        return self.renderer

    def stream_error(self, error: ApiError) -> bytes:
        if self.renderer is None:  # failed before the first event: still a whole stream
            return openai_sse_error(error)
        return self.renderer.failed(error.code, error.message)


def openai_sse_error(error: ApiError) -> bytes:
    import json

    payload = {
        "type": "error",
        "code": error.code,
        "message": error.message,
        "param": error.param,
        "sequence_number": 0,
    }
    return f"event: error\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()
