"""API endpoints about the calling key itself."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from proxy import schema
from proxy.errors import ApiError

from .schema import KEY_INFO


class KeyInfoSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    workspace = serializers.UUIDField()
    plan = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.FloatField(allow_null=True, help_text="epoch seconds")
    default_tier = serializers.CharField(allow_blank=True)


class KeyInfoView(APIView):
    """The calling API key: its workspace, plan and effective scopes (any valid key)."""

    required_scope = None

    @extend_schema(
        tags=["keys"],
        responses={
            200: schema.ok(KeyInfoSerializer, KEY_INFO),
            **schema.error_responses(401, "no_active_subscription"),
        },
    )
    def get(self, request: Any) -> Response:
        principal = request.auth
        if principal is None:  # pragma: no cover - authentication always sets it
            raise ApiError(401, "invalid_api_key", "Missing API key.")
        return Response(
            {
                "id": principal.key_id,
                "name": principal.key_name,
                "workspace": principal.workspace_id,
                "plan": principal.plan.code if principal.plan else None,
                "scopes": sorted(principal.scopes),
                "expires_at": principal.expires_at,
                "default_tier": principal.default_tier,
            }
        )
