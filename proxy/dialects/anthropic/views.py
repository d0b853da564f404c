"""The Anthropic dialect's endpoints (thin: parse, then proxy.pipeline.run) and its routes
under /v1/ and /api/v1/: messages and messages/count_tokens."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema

from agents import schema as agent_schema
from agents import services as agents

from ... import dialects, schema
from ...anthropic_format import NATIVE_BETA
from ...pipeline import (
    estimate_prompt,
    resolve_model,
    run,
)
from ...views import GatewayView
from . import AnthropicDialect, default_model, to_canonical

log = logging.getLogger(__name__)


# --- Anthropic Messages -------------------------------------------------------------------------


class AnthropicView(GatewayView):
    """Anthropic's endpoints: errors in its format (authentication failures included), and its
    `request-id` header, which the anthropic SDK and Claude Code report."""

    error_dialect = AnthropicDialect()

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["request-id"] = request.META.get("HTTP_X_REQUEST_ID", "")
        return response


class MessagesView(AnthropicView):
    """POST /v1/messages (and /api/v1/messages; Claude Code adds ?beta=true): Anthropic Messages,
    through the same pipeline as chat completions."""

    endpoint = "messages"

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.AnthropicMessagesRequest, schema.MESSAGES_REQUEST),
        responses={
            **schema.streaming_ok(
                schema.AnthropicMessage,
                schema.ANTHROPIC_MESSAGE,
                schema.ANTHROPIC_EVENTS,
                description=schema.ANTHROPIC_SSE_DESCRIPTION,
            ),
            **schema.anthropic_error_responses(
                400, 401, 402, 403, 404, 413, 429, 503, 504, *agent_schema.CALL_ERRORS
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        canonical, called = agents.expand(to_canonical(body), request.auth)
        if beta := request.META.get("HTTP_ANTHROPIC_BETA", "").strip():
            canonical[NATIVE_BETA] = beta
        self.call.stream = body.get("stream") is True
        return run(
            self.call,
            canonical,
            meta=request.META,
            operation="chat",
            dialect=AnthropicDialect(),
            fallback_model=default_model(),
            optional_reasoning=True,
            requested_model=called,
        )


class CountTokensView(AnthropicView):
    """POST /v1/messages/count_tokens: the prompt's tokens by the gateway's tokenizer. Free: the
    model is resolved (and checked against the plan and key), nothing is admitted or charged."""

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.AnthropicCountTokensRequest, schema.COUNT_TOKENS_REQUEST),
        responses={
            200: schema.ok(schema.AnthropicTokenCount, schema.TOKEN_COUNT),
            **schema.anthropic_error_responses(
                400,
                401,
                "insufficient_scope",
                "no_active_subscription",
                "model_not_allowed",
                404,
                413,
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        canonical = to_canonical(self.json_body(request), need_max_tokens=False)
        resolve_model(canonical["model"], request.auth, "chat", default_model())
        return JsonResponse({"input_tokens": estimate_prompt(canonical)})


# --- routes -------------------------------------------------------------------------------------


def anthropic_routes(mount: str) -> list[URLPattern]:
    if not mount:
        return []
    prefix = mount.replace("/", "-")
    return [
        path("messages", MessagesView.as_view(), name=f"{prefix}messages"),
        path(
            "messages/count_tokens",
            CountTokensView.as_view(),
            name=f"{prefix}messages-count-tokens",
        ),
    ]


dialects.register("anthropic", anthropic_routes)
