"""Ollama's endpoints at the site's root: thin views, each parsing its body (wire.py) and handing
over to proxy.pipeline.run with an OllamaDialect. Errors everywhere, authentication failures
included, as Ollama's `{"error": "..."}`."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from drf_spectacular.utils import extend_schema

from billing import metering
from keys.authentication import extract_secret

from ...errors import ApiError
from ...pipeline import resolve_model, run, visible_models
from ...registry import registry
from ...views import GatewayView
from . import schema, wire
from .render import VERSION, OllamaDialect, load_answer, show_answer, tag_entry


class OllamaView(GatewayView):
    error_dialect: Any = OllamaDialect()

    mode = "chat"

    def parsed(self, request: Any) -> tuple[OllamaDialect, dict[str, Any]]:
        """The request's dialect (also the one its errors are rendered by: Ollama's 404 names the
        model asked for) and its body in the canonical shape."""
        dialect = OllamaDialect(self.mode)
        self.error_dialect = dialect
        canonical = dialect.parse(self.json_body(request))
        dialect.model = canonical["model"]
        return dialect, canonical


def known_name(name: str, principal: Any) -> str:
    """Ollama's `name` means `name:latest`: a name with the tag that the catalog only knows
    without it is that model."""
    if name.endswith(":latest"):
        snapshot = registry.snapshot()
        if snapshot.resolve(name, principal.workspace_id) is None:
            return name.removesuffix(":latest")
    return name


class ChatView(OllamaView):
    """POST /api/chat: Ollama's chat, streamed as NDJSON unless `"stream": false`."""

    endpoint = "ollama_chat"
    mode = "chat"

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_chat",
        request=schema.body(
            schema.OllamaChatRequest, schema.CHAT_REQUEST, schema.CHAT_TOOLS_REQUEST
        ),
        responses={
            **schema.streaming_ok(
                schema.OllamaChatResponse, schema.CHAT_RESPONSE, schema.CHAT_LINES
            ),
            **schema.CALL_ERRORS,
        },
    )
    def post(self, request: Any) -> HttpResponse:
        return self.answer(request)

    def answer(self, request: Any) -> HttpResponse:
        dialect, canonical = self.parsed(request)
        called = canonical["model"]
        canonical["model"] = known_name(called, request.auth)
        if not canonical["messages"]:  # "load the model": nothing to call, recorded free
            self.call.requested_model = called
            self.call.served_model = resolve_model(canonical["model"], request.auth, "chat").name
            metering.settle(self.call)
            return JsonResponse(load_answer(called, self.mode))
        self.call.stream = canonical.get("stream") is True
        return run(
            self.call,
            canonical,
            meta=request.META,
            operation="chat",
            dialect=dialect,
            optional_reasoning=True,
            requested_model=called,
        )


class GenerateView(ChatView):
    """POST /api/generate: a prompt (and `system`, `images`), answered as `response`."""

    endpoint = "ollama_generate"
    mode = "generate"

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_generate",
        request=schema.body(schema.OllamaGenerateRequest, schema.GENERATE_REQUEST),
        responses={
            **schema.streaming_ok(
                schema.OllamaGenerateResponse, schema.GENERATE_RESPONSE, schema.GENERATE_LINES
            ),
            **schema.CALL_ERRORS,
        },
    )
    def post(self, request: Any) -> HttpResponse:
        return self.answer(request)


class EmbedView(OllamaView):
    """POST /api/embed: one vector per input."""

    endpoint = "ollama_embed"
    mode = "embed"

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_embed",
        request=schema.body(schema.OllamaEmbedRequest, schema.EMBED_REQUEST),
        responses={
            200: schema.ok(schema.OllamaEmbedResponse, schema.EMBED_RESPONSE),
            **schema.CALL_ERRORS,
        },
    )
    def post(self, request: Any) -> HttpResponse:
        return self.answer(request)

    def answer(self, request: Any) -> HttpResponse:
        dialect, canonical = self.parsed(request)
        called = canonical["model"]
        canonical["model"] = known_name(called, request.auth)
        return run(
            self.call,
            canonical,
            meta=request.META,
            operation="embeddings",
            dialect=dialect,
            model_kind="embedding",
            requested_model=called,
        )


class EmbeddingsView(EmbedView):
    """POST /api/embeddings: Ollama's older call, one `prompt`, one `embedding`."""

    endpoint = "ollama_embeddings"
    mode = "embeddings"

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_embeddings",
        request=schema.body(schema.OllamaEmbeddingsRequest, schema.EMBEDDINGS_REQUEST),
        responses={
            200: schema.ok(schema.OllamaEmbeddingsResponse, schema.EMBEDDINGS_RESPONSE),
            **schema.CALL_ERRORS,
        },
    )
    def post(self, request: Any) -> HttpResponse:
        return self.answer(request)


class TagsView(OllamaView):
    """GET /api/tags: the models this key may call, the workspace's own (fine-tunes, local/*)
    included, in Ollama's shape."""

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_tags",
        responses={200: schema.ok(schema.OllamaTagList, schema.TAGS), **schema.KEY_ERRORS},
    )
    def get(self, request: Any) -> HttpResponse:
        return JsonResponse({"models": [tag_entry(m) for m in visible_models(request.auth)]})


class ShowView(OllamaView):
    """POST /api/show: one model the key may call (404 for any other: another workspace's, one
    the plan or key excludes, a local one without local_model_access)."""

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_show",
        request=schema.body(schema.OllamaShowRequest, schema.SHOW_REQUEST),
        responses={200: schema.ok(schema.OllamaShowResponse, schema.SHOW), **schema.SHOW_ERRORS},
    )
    def post(self, request: Any) -> HttpResponse:
        called = wire.model_name(self.json_body(request))
        self.error_dialect = OllamaDialect("show", called)
        try:
            model = resolve_model(known_name(called, request.auth), request.auth, kind=None)
        except ApiError as error:  # a model this key may not call is not there, for the key
            if error.code in ("model_not_allowed", "insufficient_scope"):
                raise ApiError(404, "model_not_found", error.message) from None
            raise
        return JsonResponse(show_answer(model))


class PsView(OllamaView):
    """GET /api/ps: the models loaded in memory. The gateway keeps none: an empty list."""

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_ps",
        responses={200: schema.ok(schema.OllamaPsList, schema.PS), **schema.KEY_ERRORS},
    )
    def get(self, request: Any) -> HttpResponse:
        return JsonResponse({"models": []})


class VersionView(OllamaView):
    """GET /api/version: the Ollama API version Tollgate answers as."""

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_version",
        responses={200: schema.ok(schema.OllamaVersion, schema.VERSION), **schema.KEY_ERRORS},
    )
    def get(self, request: Any) -> HttpResponse:
        return JsonResponse({"version": VERSION})


class RootView(OllamaView):
    """GET/HEAD /: "Ollama is running" for a client that sends a key (clients probe it); a
    browser (no key) is sent to the dashboard, as before."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if extract_secret(request.META) is None:
            return redirect("dashboard:home")
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        tags=["ollama"],
        operation_id="ollama_root",
        responses={
            (200, "text/plain"): schema.RUNNING,
            **schema.KEY_ERRORS,
        },
    )
    def get(self, request: Any) -> HttpResponse:
        return HttpResponse("Ollama is running", content_type="text/plain; charset=utf-8")
