"""Billing endpoints of the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Workspace
from config.safe_text import text_fault
from proxy import schema as proxy_schema
from proxy.errors import ApiError
from proxy.validation import parse_json_object, require_string

from . import schema
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
        request=proxy_schema.body(RedeemRequest, schema.REDEEM_REQUEST),
        responses={
            200: proxy_schema.ok(RedeemResponse, schema.REDEMPTION),
            **proxy_schema.error_responses(
                *schema.REDEEM_ERRORS, "invalid_api_key", "no_active_subscription"
            ),
        },
    )
    def post(self, request: Any) -> Response:
        body = parse_json_object(request.body)
        code = require_string(body, "code")
        if reason := text_fault(code):
            raise ApiError(400, "invalid_request_error", f"code: {reason}", param="code")
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
