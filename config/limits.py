"""Request body caps for every endpoint, checked from Content-Length before anything reads the
body (Django reads no more than Content-Length, so a body without one is read as empty).

- Gateway views (proxy.views.GatewayView and its subclasses: chat, agents, fine-tuning, the local
  connection) check their own body after authentication (proxy.pipeline.read_body, 413
  request_too_large at GATEWAY_MAX_BODY_BYTES), so that a refused call is still metered.
- A view may declare a larger cap with `max_body_bytes` (a function of the settings), as the
  dashboard's dataset upload does.
- Everything else (the usage, quota, key and billing APIs, the dashboard's and the admin's forms,
  sign-up and log-in) is capped at REQUEST_MAX_BODY_BYTES.

Over the cap the answer is 413 in the endpoint's format: the OpenAI error shape under /v1/ and
/api/, an HTML page elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

API_PREFIXES = ("/v1/", "/api/")
# Room for the multipart envelope (boundaries, the title field) around an uploaded dataset.
UPLOAD_ENVELOPE_BYTES = 64 * 1024


def request_limit() -> int:
    return settings.REQUEST_MAX_BODY_BYTES


def dataset_upload_limit() -> int:
    return settings.FINETUNE_DATASET_MAX_BYTES + UPLOAD_ENVELOPE_BYTES


def limit_of(view_func: Callable[..., Any]) -> int | None:
    """The view's cap in bytes; None when the view checks its body itself."""
    owner = getattr(view_func, "view_class", view_func)
    declared = getattr(owner, "max_body_bytes", request_limit)
    return None if declared is None else declared()


def content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def too_large(request: HttpRequest, limit: int) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        from proxy.errors import ApiError, openai_response

        message = f"Request body is larger than the limit of {limit} bytes."
        return openai_response(ApiError(413, "request_too_large", message))
    html = render_to_string("413.html", {"limit_mib": round(limit / 1024 / 1024, 1)})
    return HttpResponse(html, status=413)


class BodyLimitMiddleware:
    """413 before the view (and before the CSRF check reads a form) when Content-Length is over
    the view's cap. Sits before SessionMiddleware and CsrfViewMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        limit = limit_of(view_func)
        if limit is not None and content_length(request) > limit:
            return too_large(request, limit)
        return None
