"""Dialects: the wire formats clients speak (OpenAI Chat Completions, Anthropic Messages, OpenAI
Responses, Ollama's native API, …). A dialect is one module of this package. It holds

- its dialect class (the `Dialect` protocol below: how answers, streams and errors look), with
  `parse` turning a request body into the canonical (OpenAI chat) shape where it has one;
- its views (thin: parse, then `proxy.pipeline.run`) and its OpenAPI pieces;
- one `routes(mount)` function, registered with `register` when the module is imported, that
  says which paths it serves under each mount point: "" (the site's root), "v1/", "api/v1/".

Adding a dialect = writing its module and naming it in `MODULES`. The pipeline, the limits and
metering never change for one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.http import HttpResponse
    from django.urls import URLPattern

    from billing.metering import Call

    from ..errors import ApiError

# The mount points of the site: the root (Ollama's /api/*), /v1/ and /api/v1/.
MOUNTS = ("", "v1/", "api/v1/")

# The modules that register a dialect's routes, in the order their routes are tried.
MODULES = {
    "openai": "proxy.dialects.openai.views",
    "anthropic": "proxy.dialects.anthropic.views",
    "responses": "proxy.dialects.responses.views",
    "ollama": "proxy.dialects.ollama",
}


class Dialect(Protocol):
    """What the pipeline asks of a dialect."""

    name: str  # recorded on every usage record of its calls
    stream_content_type: str  # "text/event-stream; charset=utf-8", "application/x-ndjson", …

    def error_response(self, error: ApiError) -> HttpResponse: ...

    def render(self, call: Call, result: dict[str, Any]) -> HttpResponse: ...

    def render_stream(self, call: Call, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]: ...

    def stream_error(self, error: ApiError) -> bytes: ...


RouteFactory = Callable[[str], "list[URLPattern]"]
_ROUTES: dict[str, RouteFactory] = {}


def register(name: str, routes: RouteFactory) -> None:
    """Called by a dialect module when it is imported: `routes(mount)` lists its URL patterns
    under that mount point (empty where it serves nothing)."""
    _ROUTES[name] = routes


def routes(mount: str) -> list[URLPattern]:
    """Every dialect's routes under `mount` ("", "v1/" or "api/v1/"), dialects in MODULES order."""
    if mount not in MOUNTS:
        raise ValueError(f"unknown mount point {mount!r}; expected one of {MOUNTS}")
    for module in MODULES.values():
        importlib.import_module(module)
    return [pattern for name in MODULES for pattern in _ROUTES[name](mount)]
