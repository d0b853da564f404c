"""The OpenAI dialect's endpoints (thin: parse, then proxy.pipeline.run) and its routes under
/v1/ and /api/v1/: chat completions, completions, embeddings, the models (answered in
Anthropic's shape to a client that sends anthropic-version), and the seed-004 calls
(/api/v1/chat, /api/v1/chat/stream, /api/v1/generate)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema

from agents import schema as agent_schema
from agents import services as agents

from ... import dialects, schema
from ...errors import ApiError
from ...pipeline import (
    resolve_model,
    run,
    visible_models,
)
from ...registry import ModelInfo
from ...validation import (
    check_chat_request,
    check_completion_request,
    check_embedding_request,
    check_sampling,
    fault,
    require_string,
)
from ...views import GatewayView
from ..anthropic import AnthropicDialect, default_model
from ..openai import OpenAIDialect, wants_usage

log = logging.getLogger(__name__)


class ChatCompletionsView(GatewayView):
    """POST /v1/chat/completions (and /api/v1/chat/completions): OpenAI Chat Completions."""

    endpoint = "chat_completions"
    force_stream: bool | None = None

    @extend_schema(
        tags=["gateway"],
        request=schema.body(
            schema.ChatCompletionRequest, schema.CHAT_REQUEST, schema.CHAT_STREAM_REQUEST
        ),
        responses={
            **schema.streaming_ok(
                schema.ChatCompletion,
                schema.CHAT_COMPLETION,
                schema.CHAT_EVENTS,
                description=schema.SSE_DESCRIPTION,
            ),
            **schema.error_responses(
                400, 401, 402, 403, 404, 413, 429, 503, 504, *agent_schema.CALL_ERRORS
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        check_chat_request(body)
        body, called = agents.expand(body, request.auth)
        self.call.stream = (
            self.force_stream if self.force_stream is not None else body.get("stream") is True
        )
        dialect = OpenAIDialect(include_usage=wants_usage(body))
        return run(
            self.call,
            body,
            meta=request.META,
            operation="chat",
            dialect=dialect,
            requested_model=called,
        )


class ApiChatView(ChatCompletionsView):
    """POST /api/v1/chat: an OpenAI chat body, a chat.completion answer."""

    endpoint = "chat"


class ApiChatStreamView(ChatCompletionsView):
    """POST /api/v1/chat/stream: the same body, always answered as a server-sent event stream."""

    endpoint = "chat_stream"
    force_stream = True

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.ChatCompletionRequest, schema.CHAT_REQUEST),
        responses={
            (200, "text/event-stream"): schema.events_ok(
                schema.CHAT_EVENTS, description=schema.SSE_DESCRIPTION
            ),
            **schema.error_responses(
                400, 401, 402, 403, 404, 413, 429, 503, 504, *agent_schema.CALL_ERRORS
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        return super().post(request)


class CompletionsView(GatewayView):
    """POST /v1/completions: legacy text completions."""

    endpoint = "completions"

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.CompletionRequest, schema.COMPLETION_REQUEST),
        responses={
            **schema.streaming_ok(
                schema.Completion,
                schema.COMPLETION,
                schema.COMPLETION_EVENTS,
                description="With stream: true, text_completion chunks as server-sent events.",
            ),
            **schema.error_responses(
                schema.PROMPT_REQUIRED, 401, 402, 403, 404, 413, 429, 503, 504
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        check_completion_request(body)
        self.call.stream = body.get("stream") is True
        dialect = OpenAIDialect(include_usage=wants_usage(body))
        return run(self.call, body, meta=request.META, operation="completion", dialect=dialect)


class EmbeddingsView(GatewayView):
    """POST /v1/embeddings."""

    endpoint = "embeddings"

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.EmbeddingRequest, schema.EMBEDDING_REQUEST),
        responses={
            200: schema.ok(schema.EmbeddingList, schema.EMBEDDING_LIST),
            **schema.error_responses(schema.INPUT_REQUIRED, 401, 402, 403, 404, 413, 429, 503, 504),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        check_embedding_request(body)
        return run(
            self.call,
            body,
            meta=request.META,
            operation="embeddings",
            dialect=OpenAIDialect(),
            model_kind="embedding",
        )


class GenerateDialect(OpenAIDialect):
    """/api/v1/generate answers with the generated text and usage (not a chat.completion)."""

    def render(self, call: Any, result: dict[str, Any]) -> HttpResponse:
        choice = (result.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        return JsonResponse(
            {
                "id": result.get("id"),
                "object": "text.generation",
                "created": result.get("created"),
                "model": result.get("model"),
                "response": message.get("content") or "",
                "finish_reason": choice.get("finish_reason"),
                "usage": {
                    "prompt_tokens": call.usage.prompt_tokens,
                    "completion_tokens": call.usage.completion_tokens,
                    "total_tokens": call.usage.total_tokens,
                },
            },
            json_dumps_params={"ensure_ascii": False},
        )


GENERATE_FIELDS = {"model", "prompt", "system"}


class GenerateView(GatewayView):
    """POST /api/v1/generate: {model, prompt, system?, …sampling} → {response, usage}."""

    endpoint = "generate"

    @extend_schema(
        tags=["gateway"],
        request=schema.body(schema.GenerateRequest, schema.GENERATE_REQUEST),
        responses={
            200: schema.ok(schema.Generation, schema.GENERATION),
            **schema.error_responses(
                schema.PROMPT_REQUIRED, 401, 402, 403, 404, 413, 429, 503, 504
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        require_string(body, "model")
        prompt = require_string(body, "prompt")
        system = body.get("system")
        if system is not None and not isinstance(system, str):
            raise fault("system", "expected a string")
        if body.get("stream") is True:
            raise fault("stream", "is not supported here; use POST /api/v1/chat/stream")
        check_sampling(body)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        canonical = {k: v for k, v in body.items() if k not in GENERATE_FIELDS | {"stream"}}
        canonical.update(model=body["model"], messages=messages)
        return run(
            self.call, canonical, meta=request.META, operation="chat", dialect=GenerateDialect()
        )


# --- models -------------------------------------------------------------------------------------


def model_object(model: ModelInfo, *, rich: bool, name: str | None = None) -> dict[str, Any]:
    """OpenAI's model object; `name`: the id to report (the name the client asked for)."""
    data: dict[str, Any] = {
        "id": name or model.name,
        "object": "model",
        "created": model.created,
        "owned_by": "workspace" if model.workspace_id else "tollgate",
    }
    if rich:
        data.update(
            kind=model.kind,
            description=model.description,
            context_window=model.context_window,
            pricing={
                "input_per_mtok": str(model.input_price_per_mtok),
                "output_per_mtok": str(model.output_price_per_mtok),
                "currency": "USD",
            },
            quota_weight={"offpeak": model.quota_weight_offpeak, "peak": model.quota_weight_peak},
            capabilities=list(model.capabilities),
            aliases=list(model.aliases),
        )
    return data


def anthropic_model_object(model: ModelInfo, name: str | None = None) -> dict[str, Any]:
    """Anthropic's model object: type, id, display_name, created_at (RFC 3339)."""
    created = datetime.fromtimestamp(model.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "model",
        "id": name or model.name,
        "display_name": name or model.name,
        "created_at": created,
    }


def anthropic_page(models: list[dict[str, Any]], query: Any) -> dict[str, Any]:
    """Anthropic's page of a list: `limit` (1-1000, default 20) after `after_id` or before
    `before_id`, with has_more, first_id and last_id."""
    raw = query.get("limit", "20")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
        raise fault("limit", "Input should be an integer between 1 and 1000")
    limit = int(raw)
    ids = [m["id"] for m in models]
    for name in ("after_id", "before_id"):
        if (value := query.get(name)) is not None and value not in ids:
            raise fault(name, f"no model with the id {value!r} in this list")
    if (after := query.get("after_id")) is not None:
        page = models[ids.index(after) + 1 :]
        has_more = len(page) > limit
        page = page[:limit]
    elif (before := query.get("before_id")) is not None:
        earlier = models[: ids.index(before)]
        page = earlier[-limit:]
        has_more = len(earlier) > limit
    else:
        page, has_more = models[:limit], len(models) > limit
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


def speaks_anthropic(request: Any) -> bool:
    """An anthropic SDK or Claude Code: it sends `anthropic-version` on every call."""
    return bool(request.META.get("HTTP_ANTHROPIC_VERSION", "").strip())


class ModelsApiView(GatewayView):
    """The model endpoints answer an Anthropic client (`anthropic-version`) in its shapes,
    errors included."""

    rich = False

    def render_error(self, error: ApiError) -> HttpResponse:
        if speaks_anthropic(self.request):
            return AnthropicDialect().error_response(error)
        return super().render_error(error)


class ModelsView(ModelsApiView):
    """GET /v1/models: the models this key may call (OpenAI list shape, or Anthropic's with
    `anthropic-version`)."""

    @extend_schema(
        tags=["models"],
        operation_id="v1_models_list",
        parameters=schema.MODEL_LIST_PARAMETERS,
        responses={
            200: schema.ok(
                schema.ModelListAnyShape,
                schema.MODEL_LIST,
                schema.ANTHROPIC_MODEL_LIST_EXAMPLE,
                description=schema.MODEL_LIST_DESCRIPTION,
            ),
            **schema.either_error_responses(
                schema.BAD_MODEL_PAGE, 401, "insufficient_scope", "no_active_subscription"
            ),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        models = visible_models(request.auth)
        if speaks_anthropic(request):
            data = [anthropic_model_object(m) for m in models]
            return JsonResponse(anthropic_page(data, request.GET))
        data = [model_object(m, rich=self.rich) for m in models]
        return JsonResponse({"object": "list", "data": data})


class RichModelsView(ModelsView):
    """GET /api/v1/models: the same list plus context window, prices and capabilities."""

    rich = True

    @extend_schema(
        tags=["models"],
        operation_id="api_v1_models_list",
        parameters=schema.MODEL_LIST_PARAMETERS,
        responses={
            200: schema.ok(
                schema.RichModelListAnyShape,
                schema.RICH_MODEL_LIST,
                schema.ANTHROPIC_MODEL_LIST_EXAMPLE,
                description=schema.MODEL_LIST_DESCRIPTION,
            ),
            **schema.either_error_responses(
                schema.BAD_MODEL_PAGE, 401, "insufficient_scope", "no_active_subscription"
            ),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        return super().get(request)


class ModelDetailView(ModelsApiView):
    """GET /v1/models/{id}: one model, by name or alias, reported under the name asked for
    (OpenAI's shape, or Anthropic's with `anthropic-version`)."""

    @extend_schema(
        tags=["models"],
        parameters=schema.MODEL_PARAMETERS,
        responses={
            200: schema.ok(
                schema.ModelObjectAnyShape,
                schema.MODEL,
                schema.ANTHROPIC_MODEL_EXAMPLE,
                description=schema.MODEL_DESCRIPTION,
            ),
            **schema.either_error_responses(
                401, "insufficient_scope", "no_active_subscription", "model_not_allowed", 404
            ),
        },
    )
    def get(self, request: Any, model_id: str) -> HttpResponse:
        if speaks_anthropic(request):
            model = resolve_model(model_id, request.auth, kind=None, fallback=default_model())
            return JsonResponse(anthropic_model_object(model, model_id))
        model = resolve_model(model_id, request.auth, kind=None)
        return JsonResponse(model_object(model, rich=self.rich, name=model_id))


class RichModelDetailView(ModelDetailView):
    rich = True

    @extend_schema(
        tags=["models"],
        parameters=schema.MODEL_PARAMETERS,
        responses={
            200: schema.ok(
                schema.RichModelObjectAnyShape,
                schema.RICH_MODEL,
                schema.ANTHROPIC_MODEL_EXAMPLE,
                description=schema.MODEL_DESCRIPTION,
            ),
            **schema.either_error_responses(
                401, "insufficient_scope", "no_active_subscription", "model_not_allowed", 404
            ),
        },
    )
    def get(self, request: Any, model_id: str) -> HttpResponse:
        return super().get(request, model_id)


# --- routes -------------------------------------------------------------------------------------


def openai_routes(mount: str) -> list[URLPattern]:
    """OpenAI's endpoints under /v1/ and /api/v1/ (whose model list is the rich one), and the
    seed-004 calls under /api/v1/."""
    if not mount:
        return []
    prefix = mount.replace("/", "-")
    rich = mount == "api/v1/"
    models_view = RichModelsView if rich else ModelsView
    detail_view = RichModelDetailView if rich else ModelDetailView
    patterns = [
        path("chat/completions", ChatCompletionsView.as_view(), name=f"{prefix}chat-completions"),
        path("completions", CompletionsView.as_view(), name=f"{prefix}completions"),
        path("embeddings", EmbeddingsView.as_view(), name=f"{prefix}embeddings"),
        path("models", models_view.as_view(), name=f"{prefix}models"),
        path("models/<path:model_id>", detail_view.as_view(), name=f"{prefix}model"),
    ]
    if rich:
        patterns += [
            path("chat", ApiChatView.as_view(), name="api-v1-chat"),
            path("chat/stream", ApiChatStreamView.as_view(), name="api-v1-chat-stream"),
            path("generate", GenerateView.as_view(), name="api-v1-generate"),
        ]
    return patterns


dialects.register("openai", openai_routes)
