"""GET/PUT/DELETE /api/v1/local/connection: a workspace's own Ollama (scope local_model_access).
Thin: proxy.local does the work, proxy.egress the checks."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from . import local
from .errors import ApiError
from .pipeline import LOCAL_SCOPE
from .schema import (
    CONNECT_LOCAL,
    LOCAL_CONNECTION,
    LOCAL_ERRORS,
    body,
    error_responses,
    ok,
)
from .views import GatewayView

DOC = """Connect the workspace's own Ollama server. Its models then appear in GET /api/v1/models
for this workspace only, as `local/<name>` (`llama3.2:latest` → `local/llama3.2`), and chat with
such a name goes to your server. Fine-tunes of this workspace are registered there too.

PUT checks the server before anything is saved: `base_url` must be http or https, without
credentials, query or fragment; its host is resolved once and must be a public address (no
loopback, private, link-local or metadata address, unless the operator allows a range); that
address is pinned and every later call connects to it, even if the name later resolves
elsewhere. The server must answer `GET /api/tags` within 5 seconds, with no redirect (redirects
are never followed). `api_key`, if given, is sent as `Authorization: Bearer` to your server; it is
stored encrypted and never shown again. PUT replaces the whole connection: omit `api_key` to
store none. Calling PUT again re-reads the list of models.

DELETE removes the connection and its `local/*` models. Fine-tunes registered on your server
stay listed but can no longer be called (503 upstream_unavailable) until they are registered
again."""


class ConnectLocal(serializers.Serializer):
    base_url = serializers.CharField(help_text="e.g. https://ollama.example.com:11434")
    api_key = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="sent to your server as Authorization: Bearer; stored encrypted, never shown",
    )


class LocalModel(serializers.Serializer):
    id = serializers.CharField(help_text="the name to use in chat: local/llama3.2")
    upstream_model = serializers.CharField(help_text="the name on your server: llama3.2:latest")
    kind = serializers.ChoiceField(["chat", "embedding"])


class LocalConnection(serializers.Serializer):
    base_url = serializers.CharField()
    address = serializers.IPAddressField(help_text="the pinned address every call connects to")
    has_api_key = serializers.BooleanField()
    active = serializers.BooleanField(help_text="false if the operator has disabled it")
    verified_at = serializers.DateTimeField(help_text="when the server last answered the check")
    models = LocalModel(many=True)


class LocalConnectionView(GatewayView):
    """The workspace's own Ollama connection. Not metered (no usage record, no credits)."""

    required_scope = LOCAL_SCOPE

    @extend_schema(
        tags=["local"],
        summary="Show the workspace's Ollama connection",
        description=DOC,
        responses={
            200: ok(LocalConnection, LOCAL_CONNECTION),
            **error_responses(401, 403, 404, known=LOCAL_ERRORS),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        upstream = local.connection_of(request.auth.workspace_id)
        if upstream is None:
            raise missing()
        return JsonResponse(local.describe(upstream))

    @extend_schema(
        tags=["local"],
        summary="Connect (or reconnect) the workspace's Ollama",
        description=DOC,
        request=body(ConnectLocal, CONNECT_LOCAL),
        responses={
            200: ok(LocalConnection, LOCAL_CONNECTION),
            **error_responses(400, 401, 403, 409, 413, known=LOCAL_ERRORS),
        },
    )
    def put(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        unknown = sorted(set(body) - {"base_url", "api_key"})
        if unknown:
            raise ApiError(
                400,
                "invalid_request_error",
                f"{unknown[0]}: unknown field; expected base_url and api_key",
                param=unknown[0],
            )
        upstream = local.connect(
            request.auth.workspace_id, body.get("base_url"), body.get("api_key")
        )
        return JsonResponse(local.describe(upstream))

    @extend_schema(
        tags=["local"],
        summary="Disconnect the workspace's Ollama",
        description=DOC,
        responses={
            204: OpenApiResponse(description="removed, with its local/* models"),
            **error_responses(401, 403, 404, known=LOCAL_ERRORS),
        },
    )
    def delete(self, request: Any) -> HttpResponse:
        if not local.disconnect(request.auth.workspace_id):
            raise missing()
        return HttpResponse(status=204)


def missing() -> ApiError:
    return ApiError(
        404,
        "no_local_connection",
        "This workspace has no Ollama connection; PUT /api/v1/local/connection creates one.",
    )


local_api_patterns = [
    path("local/connection", LocalConnectionView.as_view(), name="local-connection"),
]
