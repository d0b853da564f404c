"""The branded 404 page also with DEBUG on (`make run`), unless a developer asks for Django's
technical 404 page with DEBUG_404=1. JSON 404s of the API are left as they are."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found

# Words only Django's technical 404 page has (django/views/templates/technical_404.html).
TECHNICAL_404_MARK = b"because you have <code>DEBUG = True</code>"


class BrandedNotFoundMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and settings.DEBUG
            and not settings.DEBUG_404
            and not response.streaming
            and TECHNICAL_404_MARK in response.content
        ):
            return page_not_found(request, exception=None)
        return response
