"""An upstream's own Responses API (the catalog's `responses: true` on an OpenAI-compatible
upstream): its answers as canonical results and chunks, so that the pipeline meters them like any
other, each carrying the native form the dialect relays (`_responses` on a result,
`_responses_events` on a chunk)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .parse import NATIVE
from .render import NATIVE_EVENTS, chat_usage

FINAL_EVENTS = ("response.completed", "response.incomplete")


def native_body(body: dict[str, Any]) -> dict[str, Any]:
    """What an upstream's /v1/responses is sent: the client's body (previous_response_id
    already expanded into the input by the dialect), the upstream's model name, and the end user
    the gateway settled on."""
    native = dict(body.get(NATIVE) or {})
    native["model"] = body["model"]
    native["stream"] = body.get("stream") is True
    if body.get("user") and not native.get("user"):
        native["user"] = body["user"]
    native.pop("stream_options", None)
    return native


def message_of(output: list[Any]) -> tuple[dict[str, Any], bool]:
    """(the canonical assistant message of a response's output items, whether it calls tools)."""
    texts, reasoning, calls = [], [], []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
        elif kind == "reasoning":
            for part in [*(item.get("content") or ()), *(item.get("summary") or ())]:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    reasoning.append(part["text"])
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.get("arguments")
            if kind == "custom_tool_call":
                arguments = json.dumps({"input": item.get("input") or ""})
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": arguments or ""},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    return message, bool(calls)


def native_result(data: dict[str, Any]) -> dict[str, Any]:
    message, calls = message_of(data.get("output") or [])
    incomplete = (data.get("incomplete_details") or {}).get("reason")
    finish = "tool_calls" if calls else "length" if incomplete == "max_output_tokens" else "stop"
    result = {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": data.get("created_at"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        NATIVE: data,
    }
    if (usage := chat_usage(data.get("usage"))) is not None:
        result["usage"] = usage
    return result


def native_chunk(event: dict[str, Any]) -> dict[str, Any]:
    """One native event as a canonical chunk: the text it delivers (for metering a stream cut
    short), the usage of the final event, and the event itself to relay."""
    kind = event.get("type")
    delta: dict[str, Any] = {}
    if kind == "response.output_text.delta":
        delta["content"] = str(event.get("delta") or "")
    elif kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
        delta["reasoning_content"] = str(event.get("delta") or "")
    elif kind in (
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    ):
        delta["tool_calls"] = [
            {"index": 0, "function": {"arguments": str(event.get("delta") or "")}}
        ]
    chunk: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else [],
        NATIVE_EVENTS: [event],
    }
    if kind in FINAL_EVENTS:
        usage = chat_usage((event.get("response") or {}).get("usage"))
        if usage is not None:
            chunk["usage"] = usage
    return chunk


def is_failure(event: dict[str, Any]) -> bool:
    return event.get("type") in ("error", "response.failed")


def is_last(event: dict[str, Any]) -> bool:
    return event.get("type") in FINAL_EVENTS


def chunks(events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from (native_chunk(event) for event in events)
