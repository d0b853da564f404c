from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config import logs

from .pipeline import request_id_of

API_PREFIXES = ("/v1/", "/api/")
SUPPLIED = "tollgate.request_id_supplied"  # did the client send X-Request-Id itself?


class RequestIdMiddleware:
    """Every API response carries X-Request-Id: the client's if it sent a sane one, else ours.
    Every line logged during a request carries its id (config.logs; other pages get one too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIXES):
            logs.bind_request(request_id_of(request.META), request.META)
            return self.get_response(request)
        request.META[SUPPLIED] = bool(request.META.get("HTTP_X_REQUEST_ID", "").strip())
        request_id = request_id_of(request.META)
        request.META["HTTP_X_REQUEST_ID"] = request_id
        logs.bind_request(request_id, request.META)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response
