"""Examples for the OpenAPI document of billing's API (billing.api, billing.usage_api), taken from
what the endpoints answer; the helpers are proxy.schema's."""

from __future__ import annotations

from proxy.errors import ApiError

REDEEM_REQUEST = {"code": "ABCD-EFGH-JKLM-NPQR"}
REDEMPTION = {"object": "redemption", "amount": "10.000000", "balance": "12.500000"}
REDEEM_ERRORS = [
    ApiError(400, "invalid_request_error", "code: is required", param="code"),
    ApiError(404, "invalid_code", "This code does not exist.", param="code"),
    ApiError(409, "code_already_redeemed", "This code has already been redeemed.", param="code"),
    ApiError(410, "code_expired", "This code has expired.", param="code"),
]
BAD_USAGE_QUERY = ApiError(
    400,
    "invalid_request_error",
    "group_by: expected one of day, model, key",
    param="group_by",
)
_TOTALS = {
    "requests": 9,
    "errors": 0,
    "prompt_tokens": 180,
    "completion_tokens": 19,
    "total_tokens": 199,
    "credits": 7,
    "cost": "0.00000000",
}
USAGE = {
    "object": "usage",
    "from": "2025-12-16T09:30:00.000000Z",
    "to": "2026-01-15T09:30:00.000000Z",
    "group_by": "model",
    "data": [
        {
            "model": "llama3.2",
            "requests": 7,
            "errors": 0,
            "prompt_tokens": 167,
            "completion_tokens": 19,
            "total_tokens": 186,
            "credits": 7,
            "cost": "0.00000000",
        },
        {
            "model": "nomic-embed-text",
            "requests": 2,
            "errors": 0,
            "prompt_tokens": 13,
            "completion_tokens": 0,
            "total_tokens": 13,
            "credits": 0,
            "cost": "0.00000000",
        },
    ],
    "totals": _TOTALS,
}
USAGE_CSV = (
    "started_at,request_id,endpoint,requested_model,served_model,status,error_code,"
    "prompt_tokens,completion_tokens,tokens_estimated,credits,cost,latency_ms,ttft_ms,end_user,"
    "key_id\r\n"
    "2026-01-15T09:29:04.332840Z,req_cb21323e05084937806226d0e5975efa,chat_completions,llama3.2,"
    "llama3.2,200,,25,2,false,1,0.00000000,48,48,,084c9e54-6a39-4948-bb07-3ebd312efb92\r\n"
    "2026-01-15T09:29:05.424562Z,req_342309c6a21141869dcd2a0408bef286,embeddings,"
    "text-embedding-3-small,nomic-embed-text,200,,9,0,false,0,0.00000000,3,2,,"
    "084c9e54-6a39-4948-bb07-3ebd312efb92\r\n"
)
QUOTA = {
    "object": "quota",
    "plan": "chat_agent",
    "limits": {
        "requests_per_5h": {
            "limit": None,
            "used": 9,
            "remaining": None,
            "resets_at": "2026-01-15T14:29:05Z",
        },
        "requests_per_week": {
            "limit": None,
            "used": 9,
            "remaining": None,
            "resets_at": "2026-01-18T23:00:00Z",
        },
        "rpm": {"limit": 200, "used": 9, "remaining": 191, "resets_at": "2026-01-15T09:31:05Z"},
        "tpm": {
            "limit": 200000,
            "used": 199,
            "remaining": 199801,
            "resets_at": "2026-01-15T09:31:05Z",
        },
        "max_concurrency": {"limit": 8, "used": 0, "remaining": 8, "resets_at": None},
        "monthly_credits": {
            "limit": 1500000,
            "used": 7,
            "remaining": 1499993,
            "resets_at": "2026-02-15T09:30:05Z",
        },
    },
}
