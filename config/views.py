from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from proxy.schema import ok

from .health import health_report
from .schema import DEGRADED, HEALTHY


class HealthView(APIView):
    """Service health; needs no API key. 200 when database, cache and broker are up, else 503."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        tags=["health"],
        auth=[],
        responses={
            (200, "application/json"): ok(
                inline_serializer(
                    "Health",
                    {
                        "status": serializers.ChoiceField(["ok", "degraded"]),
                        "checks": serializers.DictField(child=serializers.DictField()),
                    },
                ),
                HEALTHY,
            ),
            (503, "application/json"): OpenApiResponse(
                inline_serializer(
                    "HealthDown",
                    {
                        "status": serializers.ChoiceField(["degraded"]),
                        "checks": serializers.DictField(child=serializers.DictField()),
                    },
                ),
                description="a check is down",
                examples=[OpenApiExample("degraded", value=DEGRADED)],
            ),
        },
    )
    def get(self, request: Any) -> Response:
        healthy, checks = health_report()
        return Response(
            {"status": "ok" if healthy else "degraded", "checks": checks},
            status=200 if healthy else 503,
        )
