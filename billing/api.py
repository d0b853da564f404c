"""Billing endpoints of the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from proxy.errors import ApiError
from proxy.schema import OpenAIError
from proxy.validation import parse_json_object, require_string

from .ledger import RedemptionFailed, redeem


class RedeemRequest(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. ABCD-EFGH-JKLM-NPQR")


class RedeemResponse(serializers.Serializer):
    object = serializers.CharField(default="redemption")
    amount = serializers.CharField(help_text="USD credited")
    balance = serializers.CharField(help_text="USD after the redemption")


class RedeemView(APIView):
    """POST /api/v1/billing/redeem: credit a redemption code to the key's workspace, once."""

    required_scope = None

    @extend_schema(
        tags=["billing"],
        request=RedeemRequest,
        responses={
            200: RedeemResponse,
            400: OpenApiResponse(OpenAIError, description="invalid_request_error"),
            401: OpenAIError,
            404: OpenApiResponse(OpenAIError, description="invalid_code"),
            409: OpenApiResponse(OpenAIError, description="code_already_redeemed"),
            410: OpenApiResponse(OpenAIError, description="code_expired"),
        },
    )
    def post(self, request: Any) -> Response:
        body = parse_json_object(request.body)
        code = require_string(body, "code")
        workspace = Workspace.objects.get(pk=request.auth.workspace_id)
        try:
            entry = redeem(workspace, code)
        except RedemptionFailed as failed:
            status = {"invalid_code": 404, "code_already_redeemed": 409, "code_expired": 410}
            raise ApiError(
                status[failed.code], failed.code, failed.message, param="code"
            ) from failed
        return Response(
            {
                "object": "redemption",
                "amount": str(entry.amount.quantize(Decimal("0.000001"))),
                "balance": str(entry.balance_after),
            }
        )
