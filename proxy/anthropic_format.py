"""The vocabulary of Anthropic's Messages API that both directions share: stop reasons, usage,
error types, SSE framing and message ids.

The dialect (clients speaking Anthropic) and the provider (upstreams speaking Anthropic) each
translate one way; keeping the pairs of mappings side by side here keeps them inverse.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

# Private keys of the canonical body, result and chunks (never sent to other upstreams, never
# rendered by other dialects): the client's own Anthropic body, or an Anthropic upstream's own
# answer; the native SSE events a chunk came from; the client's anthropic-beta header.
NATIVE = "_anthropic"
NATIVE_EVENTS = "_anthropic_events"
NATIVE_BETA = "_anthropic_beta"

# canonical finish_reason → Anthropic stop_reason (a stop string known to the canonical choice as
# vLLM's `stop_reason` makes it "stop_sequence")
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Anthropic stop_reason → canonical finish_reason
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# HTTP status → Anthropic error type (https://docs.anthropic.com/en/api/errors)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def stop_reason_of(choice: dict[str, Any]) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence) of a canonical choice."""
    finish = choice.get("finish_reason")
    matched = choice.get("stop_reason")
    if finish == "stop" and isinstance(matched, str) and matched:
        return "stop_sequence", matched
    return STOP_REASONS.get(finish or "stop", "end_turn"), None


def finish_reason_of(stop_reason: str | None) -> str | None:
    return FINISH_REASONS.get(stop_reason, "stop") if stop_reason else None


def whole(value: Any) -> int:
    """A count from an upstream as an integer (anything else is 0); its range is the pipeline's
    to clamp (and mark), see proxy.pipeline.usage_from."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0
    return int(value) if abs(value) < 2**63 else (2**63 if value > 0 else -(2**63))


def anthropic_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    """Canonical usage → Anthropic's, whose input_tokens exclude tokens read from the cache."""
    usage = usage or {}
    prompt = whole(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = whole(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": whole(usage.get("completion_tokens")),
    }


def canonical_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage → canonical; every input token (cache reads and writes too) is a prompt
    token, which is what metering charges."""
    cache_read = whole(usage.get("cache_read_input_tokens"))
    prompt = (
        whole(usage.get("input_tokens")) + whole(usage.get("cache_creation_input_tokens"))
        + cache_read
    )  # fmt: skip
    completion = whole(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def message_id(canonical_id: Any) -> str:
    """An Anthropic-looking id (msg_…) for a canonical answer, stable across replays."""
    if isinstance(canonical_id, str) and canonical_id.startswith("msg_"):
        return canonical_id
    tail = re.sub(r"[^A-Za-z0-9]", "", canonical_id) if isinstance(canonical_id, str) else ""
    return "msg_" + (tail or uuid.uuid4().hex)


def tool_use_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


def tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    """A canonical tool call as an Anthropic tool_use block."""
    function = call.get("function") or {}
    return {
        "type": "tool_use",
        "id": call.get("id") or tool_use_id(),
        "name": function.get("name") or "",
        "input": tool_input(function.get("arguments")),
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as the object Anthropic's `input` must be ({} if not JSON)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event the way Anthropic frames it: `event:` line, `data:` line."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {payload}\n\n".encode()
