"""The base of every gateway endpoint (key auth, scope, errors in the dialect's format, metering of
refused calls) and the JSON 404 of unknown API paths. Each dialect's endpoints live in its own
package under proxy/dialects/."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

from billing import metering
from billing.metering import Call
from config import dbprobe, metrics

from .dialects.anthropic import AnthropicDialect
from .dialects.openai import OpenAIDialect
from .errors import ApiError, as_api_error, openai_response
from .pipeline import (
    read_body,
    start_call,
)
from .validation import (
    parse_json_object,
)

log = logging.getLogger(__name__)


class GatewayView(APIView):
    """Base of every gateway endpoint: key auth and the `chat` scope, errors in the dialect's format,
    never an HTML 500, and a usage record for every authenticated call, refused ones included."""

    required_scope = "chat"
    # Bodies are read raw (read_body: 413 before reading, our own JSON errors); the parser is
    # declared so that the OpenAPI document shows each endpoint's JSON body.
    parser_classes = [JSONParser]
    # No cap in config.limits' middleware: read_body checks after authentication (a refused call
    # is metered, in the dialect's format).
    max_body_bytes = None
    error_dialect: Any = OpenAIDialect()
    endpoint = ""
    call: Call | None = None

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        dbprobe.require()  # the database away: 503 for every new call, known key or not
        super().initial(request, *args, **kwargs)  # authentication and scope first
        if self.endpoint:
            self.call = start_call(
                request, endpoint=self.endpoint, dialect=self.error_dialect.name, stream=False
            )

    def render_error(self, error: ApiError) -> HttpResponse:
        return self.error_dialect.error_response(error)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        error = as_api_error(exc)
        if error is None:
            log.exception("unexpected error in %s", type(self).__name__)
            exc = error = ApiError(
                500, "internal_error", "The gateway failed unexpectedly; it has been logged."
            )
        if self.call is not None and not self.call.settled:
            self.call.fail(error.status, error.code)
            metering.settle(self.call)
        elif self.call is None:
            metrics.refused(self.endpoint or "other", error.status)
        return super().handle_exception(exc)

    def json_body(self, request: Any) -> dict[str, Any]:
        return parse_json_object(read_body(request))


@csrf_exempt
def unknown_api_path(request: Any, rest: str = "") -> HttpResponse:
    """Any other path under /v1/, /api/v1/ or Ollama's /api/, whatever the method: a 404 in the
    API's error shape (Anthropic's below /v1/messages/, Ollama's `{"error"}` under /api/ but not
    /api/v1/), never an HTML page (no CSRF check: API clients send no cookie)."""
    error = ApiError(404, "not_found", f"No API endpoint at {request.path}.")
    if rest.startswith("messages/"):
        return AnthropicDialect().error_response(error)
    if request.path.startswith("/api/") and not request.path.startswith("/api/v1/"):
        return JsonResponse({"error": error.message}, status=404)
    return openai_response(error)
