"""Pages while the database is away: 503 with Retry-After and a page that says so, not a 500.
(API views answer 503 database_unavailable in their own format: proxy.errors.as_api_error.)"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from . import dbprobe

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
# Pages that read the database (sessions, users, workspaces). The API has its own check
# (proxy.views.GatewayView), and health, metrics and static files need no database.
PAGES = ("/dashboard/", "/accounts/", "/admin/", "/invite/")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(PAGES) and not dbprobe.available():
            return unavailable_page()  # at once, not after the pool's timeout
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable for %s: %s", request.path, exception)
        return unavailable_page()


def unavailable_page() -> HttpResponse:
    # Rendered without the request: its context processors would ask the database again.
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
