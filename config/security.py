"""Security headers on every response: pages, the API, the admin and static files.

Django's SecurityMiddleware already sets X-Content-Type-Options (nosniff), Referrer-Policy
(same-origin), Cross-Origin-Opener-Policy (same-origin) and, in production, HSTS. This adds a
Content-Security-Policy, Permissions-Policy and X-Frame-Options, and sits outside WhiteNoise so
that static files get them too.

Pages use only our own static CSS and JS (no inline script, no third-party origin); Swagger UI
and Redoc come from drf-spectacular-sidecar under /static/, Swagger's start script as a separate
file (SpectacularSwaggerSplitView). Inline styles stay allowed: templates set widths with style
attributes, and Swagger UI and Redoc inject theirs. Redoc builds its search worker from a blob:
URL, and Swagger's CSS draws its icons from data: URLs. "Try it out" calls PUBLIC_BASE_URL.
Redoc's menu always shows Redocly's logo from their CDN: that one image is allowed on its page
(allow_images), rather than a CSP violation on every visit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# Anything that is not a page (JSON, event streams, CSV, static files) may load nothing at all.
NON_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'"


def page_policy(images: tuple[str, ...] = ()) -> str:
    return _page_policy(settings.PUBLIC_BASE_URL, images)


@lru_cache(maxsize=16)
def _page_policy(public_base_url: str, images: tuple[str, ...]) -> str:
    api = urlsplit(public_base_url)
    connect = " ".join(dict.fromkeys(["'self'", f"{api.scheme}://{api.netloc}"]))
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' data:", *images]),
            "font-src 'self' data:",
            f"connect-src {connect}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def is_page(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("text/html")


class SecurityHeadersMiddleware:
    """Content-Security-Policy, Permissions-Policy and X-Frame-Options on every response (a view
    may set its own). Right after django.middleware.security.SecurityMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = page_policy() if is_page(response) else NON_PAGE_POLICY
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


def allow_images(*sources: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view whose page may also show images from `sources` (exact URLs)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response.headers["Content-Security-Policy"] = page_policy(sources)
            return response

        return wrapped

    return decorate
