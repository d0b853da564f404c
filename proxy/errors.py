"""One error type for the whole API, rendered by each dialect in its own format.

OpenAI shape (default): {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf

# OpenAI's `type` for each status when the raiser does not name one.
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    """A client-visible failure: HTTP status, stable machine code, human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.details = details
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.type = type or OPENAI_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = headers or {}

    def openai_body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        if self.details:  # every fault, when there are several (a dataset's lines)
            error["details"] = self.details
        return {"error": error}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


def openai_response(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.openai_body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def as_api_error(exc: Exception) -> ApiError | None:
    """Translate DRF/Django exceptions into ApiError; None for anything unexpected."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return ApiError(401, "invalid_api_key", "Missing or invalid API key.")
    if isinstance(exc, drf.ParseError):
        return ApiError(
            400, "invalid_request_error", f"Request body is not valid JSON: {exc.detail}"
        )
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(415, "unsupported_media_type", str(exc.detail))
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, drf.NotFound | Http404):
        return ApiError(404, "not_found", "Not found.")
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return ApiError(403, "permission_denied", "You do not have permission for this action.")
    if isinstance(exc, drf.Throttled):
        wait = int(exc.wait or 1)
        return ApiError(
            429, "rate_limit_exceeded", "Too many requests.", headers={"Retry-After": str(wait)}
        )
    if isinstance(exc, drf.ValidationError):
        return ApiError(400, "invalid_request_error", _flatten_validation(exc.detail))
    if isinstance(exc, drf.APIException):
        return ApiError(exc.status_code, str(exc.default_code), str(exc.detail))
    if isinstance(exc, OperationalError | InterfaceError):  # the database went away mid-call
        from config.dbprobe import unavailable

        logging.getLogger(__name__).warning("database error: %s: %s", type(exc).__name__, exc)
        return unavailable()
    return None


def _flatten_validation(detail: Any, path: str = "") -> str:
    if isinstance(detail, dict):
        parts = [
            _flatten_validation(v, f"{path}.{k}" if path else str(k)) for k, v in detail.items()
        ]
        return "; ".join(parts)
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            text = " ".join(str(item) for item in detail)
            return f"{path}: {text}" if path else text
        return "; ".join(_flatten_validation(item, f"{path}[{i}]") for i, item in enumerate(detail))
    return f"{path}: {detail}" if path else str(detail)


# Errors a retry of the same request cannot mend: they say so (`x-should-retry: false`, which the
# anthropic and openai SDKs honour), and the SDKs and Claude Code stop at once instead of
# retrying for minutes (Claude Code retries a 401 ten times otherwise).
FINAL_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 413, 422})


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse | None:
    """DRF's EXCEPTION_HANDLER: every API error in the endpoint's format (OpenAI by default)."""
    error = as_api_error(exc)
    if error is None:  # unexpected: logged, and still answered in the API's own shape
        logging.getLogger(__name__).error("unexpected error", exc_info=exc)
        error = ApiError(
            500, "internal_error", "The gateway failed unexpectedly; it has been logged."
        )
    view = context.get("view")
    render = getattr(view, "render_error", None)
    response = render(error) if render else openai_response(error)
    if error.status in FINAL_STATUSES:
        response["x-should-retry"] = "false"
    return response
