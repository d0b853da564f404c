"""Content negotiation of the API: every endpoint answers in its own format whatever the Accept
header asks for. Clients send what they expect (`text/event-stream` from Codex and Postman's
generated request for a stream, `application/x-ndjson`, `*/*`), and a stream or a JSON answer
is what the endpoint gives: a 406 would only break them."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation


class AnyAccept(DefaultContentNegotiation):
    """The view's first renderer, never a 406; parsers are chosen as DRF does."""

    def select_renderer(self, request: Any, renderers: list, format_suffix: Any = None) -> tuple:
        return renderers[0], renderers[0].media_type
