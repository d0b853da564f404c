from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .health import health_report


class HealthView(APIView):
    """Service health; needs no API key. 200 when database, cache and broker are up, else 503."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        tags=["health"],
        auth=[],
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(["ok", "degraded"]),
                    "checks": serializers.DictField(child=serializers.DictField()),
                },
            ),
            (503, "application/json"): inline_serializer(
                "HealthDown",
                {
                    "status": serializers.ChoiceField(["degraded"]),
                    "checks": serializers.DictField(child=serializers.DictField()),
                },
            ),
        },
    )
    def get(self, request: Any) -> Response:
        healthy, checks = health_report()
        return Response(
            {"status": "ok" if healthy else "degraded", "checks": checks},
            status=200 if healthy else 503,
        )
