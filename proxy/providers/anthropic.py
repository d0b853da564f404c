"""Anthropic's Messages API (`anthropic` kind): base_url is the server root, e.g.
https://api.anthropic.com; calls go to /v1/messages with `x-api-key` and `anthropic-version`.

Two ways in. A body that came from the Anthropic dialect carries the client's own request under
`_anthropic`: it is sent as it is (only the model renamed), so nothing is lost to a double
translation, and the native answer rides back on the canonical result (`_anthropic`) or on each
stream chunk (`_anthropic_events`) for the dialect to pass on. Any other body (an OpenAI-format
client calling an Anthropic-backed model) is translated to Anthropic's format, and the answer
back to the canonical shape. Either way the canonical result carries the usage that metering
charges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from ..anthropic_format import (
    NATIVE,
    NATIVE_BETA,
    NATIVE_EVENTS,
    canonical_usage,
    finish_reason_of,
    tool_use_block,
)
from ..errors import ApiError
from .base import OUTPUT_CAP, Provider, UpstreamFailure, UpstreamStream
from .openai import post, read_body, sse_events

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI-format clients may omit it
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}


class AnthropicProvider(Provider):
    def chat(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        native = body.get(NATIVE)
        if isinstance(native, dict):
            payload = {**native, "model": body["model"], "stream": stream}
        else:
            payload = to_anthropic(body, stream)
        if isinstance(body.get(OUTPUT_CAP), int):
            cap_output(payload, body[OUTPUT_CAP])
        url = f"{base_url.rstrip('/').removesuffix('/v1')}/v1/messages"
        headers = request_headers(key, stream, body.get(NATIVE_BETA))
        response = post(url, key, payload, stream=stream, timeout=timeout, headers=headers)
        if not stream:
            message = read_message(response)
            result = to_result(message)
            if native is not None:
                result[NATIVE] = message
            return result
        events = sse_events(response, last=lambda e: e.get("type") == "message_stop")
        return UpstreamStream(to_chunks(events, native=native is not None), response)

    def completion(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        raise not_served("legacy completions")

    def embeddings(self, base_url: str, key: str | None, body: dict, *, timeout: float) -> dict:
        raise not_served("embeddings")


def not_served(what: str) -> UpstreamFailure:
    """Like an upstream's 405: this deployment cannot serve the endpoint; another may."""
    return UpstreamFailure("status", f"an Anthropic upstream does not serve {what}", status=405)


def request_headers(key: str | None, stream: bool, beta: Any) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "anthropic-version": API_VERSION,
    }
    if key:
        headers["x-api-key"] = key
    if isinstance(beta, str) and beta:
        headers["anthropic-beta"] = beta
    return headers


def read_message(response: Any) -> dict[str, Any]:
    try:
        message = json.loads(read_body(response))
    except ValueError as exc:
        raise UpstreamFailure("protocol", "the upstream answered with invalid JSON") from exc
    if not isinstance(message, dict) or message.get("type") != "message":
        raise UpstreamFailure("protocol", "the upstream answered 200 without a message")
    return message


# --- canonical → Anthropic ----------------------------------------------------------------------


def to_anthropic(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """A canonical chat request in Anthropic's format."""
    system, messages = anthropic_messages(body.get("messages") or [])
    payload: dict[str, Any] = {"model": body["model"], "messages": messages}
    if system:
        payload["system"] = system
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    payload["max_tokens"] = asked if isinstance(asked, int) else DEFAULT_MAX_TOKENS
    if isinstance(body.get("temperature"), int | float):
        payload["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range: 0-1
    for name in ("top_p", "top_k"):
        if body.get(name) is not None:
            payload[name] = body[name]
    stop = body.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        payload["tools"] = [anthropic_tool(t) for t in body["tools"] if isinstance(t, dict)]
        if choice := anthropic_tool_choice(
            body.get("tool_choice"), body.get("parallel_tool_calls")
        ):
            payload["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        payload["metadata"] = {"user_id": body["user"]}
    add_thinking(payload, body.get("reasoning_effort"))
    if stream:
        payload["stream"] = True
    return payload


MIN_THINKING_BUDGET = 1024  # Anthropic's


def cap_output(payload: dict[str, Any], cap: int) -> None:
    """max_tokens (thinking included) at most `cap`: a thinking budget that no longer fits under
    it shrinks, or goes when under Anthropic's minimum."""
    payload["max_tokens"] = min(max(1, cap), payload.get("max_tokens") or cap)
    thinking = payload.get("thinking")
    if not isinstance(thinking, dict) or not isinstance(thinking.get("budget_tokens"), int):
        return
    if thinking["budget_tokens"] < payload["max_tokens"]:
        return
    budget = payload["max_tokens"] - 1
    if budget >= MIN_THINKING_BUDGET:
        payload["thinking"] = {**thinking, "budget_tokens": budget}
    else:
        payload.pop("thinking")


def add_thinking(payload: dict[str, Any], effort: Any) -> None:
    """reasoning_effort as extended thinking, whose budget must stay under max_tokens and which
    allows neither a temperature nor top_k."""
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        return
    payload["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if payload["max_tokens"] <= budget:
        payload["max_tokens"] += budget
    payload.pop("temperature", None)
    payload.pop("top_k", None)


def anthropic_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """(system prompt, messages): system and developer messages join the system prompt; tool
    messages become tool_result blocks of one user turn."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    results: dict[str, Any] | None = None  # the user turn holding the latest tool results
    for index, message in enumerate(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(plain_text(message.get("content")))
            continue
        if role in ("tool", "function"):
            result = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id") or message.get("name") or ""),
                "content": plain_text(message.get("content")),
            }
            if results is None or out[-1] is not results:
                results = {"role": "user", "content": []}
                out.append(results)
            results["content"].append(result)
        elif role == "assistant":
            if blocks := assistant_blocks(message):
                out.append({"role": "assistant", "content": blocks})
        else:
            content = user_blocks(message.get("content"), f"messages[{index}]")
            out.append({"role": "user", "content": content})
    return "\n".join(s for s in system if s), out


def plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = plain_text(message.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    return blocks + [tool_use_block(call) for call in message.get("tool_calls") or ()]


def user_blocks(content: Any, path: str) -> str | list[dict[str, Any]]:
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    return [user_block(part, f"{path}.content[{i}]") for i, part in enumerate(content)]


def user_block(part: dict[str, Any], path: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url") or ""
        return {"type": "image", "source": media_source(url, f"{path}.image_url.url")}
    if kind == "file":
        data = (part.get("file") or {}).get("file_data") or ""
        return {"type": "document", "source": media_source(data, f"{path}.file.file_data")}
    raise ApiError(
        400,
        "invalid_request_error",
        f"{path}.type: {kind!r} content is not supported by this model",
        param=path,
    )


def media_source(url: str, path: str) -> dict[str, Any]:
    """A data: URL as a base64 source, an http(s) URL as a url source."""
    if url.startswith(("https://", "http://")):
        return {"type": "url", "url": url}
    head, _, data = url.partition(",")
    if url.startswith("data:") and head.endswith(";base64") and data:
        return {"type": "base64", "media_type": head[5:].removesuffix(";base64"), "data": data}
    raise ApiError(
        400,
        "invalid_request_error",
        f"{path}: expected a base64 data: URL or an http(s) URL",
        param=path,
    )


def anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    converted = {
        "name": function.get("name") or "",
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def anthropic_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        converted: dict[str, Any] = {
            "type": "tool",
            "name": (choice.get("function") or {}).get("name") or "",
        }
    elif choice in ("auto", "required", "none"):
        converted = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif parallel is False:
        converted = {"type": "auto"}
    else:
        return None
    if parallel is False and converted["type"] != "none":
        converted["disable_parallel_tool_use"] = True
    return converted


# --- Anthropic → canonical ----------------------------------------------------------------------


def to_result(message: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic message as a chat.completion (a matched stop sequence kept the way vLLM
    reports it: the choice's `stop_reason`)."""
    texts, reasoning, calls = [], [], []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name") or "",
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if reasoning:
        reply["reasoning_content"] = "".join(reasoning)
    if calls:
        reply["tool_calls"] = calls
    choice: dict[str, Any] = {
        "index": 0,
        "message": reply,
        "finish_reason": finish_reason_of(message.get("stop_reason")) or "stop",
    }
    if message.get("stop_sequence"):
        choice["stop_reason"] = message["stop_sequence"]
    result: dict[str, Any] = {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [choice],
    }
    if isinstance(message.get("usage"), dict):
        result["usage"] = canonical_usage(message["usage"])
    return result


class ChunkTranslator:
    """Anthropic stream events → chat.completion.chunk dicts (none for ping and block stops)."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {"object": "chat.completion.chunk"}
        self.usage: dict[str, Any] = {}
        self.tools: dict[Any, int] = {}  # content block index → tool call index

    def chunk(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {**self.head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    def translate(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.head.update(
                id=message.get("id"), created=int(time.time()), model=message.get("model")
            )
            self.usage.update(message.get("usage") or {})
            return [self.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self.block_start(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self.block_delta(event.get("index"), event.get("delta") or {})
        if kind == "message_delta":
            return self.message_delta(event)
        return []

    def block_start(self, index: Any, block: dict[str, Any]) -> list[dict[str, Any]]:
        if block.get("type") == "tool_use":
            self.tools[index] = len(self.tools)
            call = {
                "index": self.tools[index],
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name") or "", "arguments": ""},
            }
            return [self.chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self.chunk({"content": block["text"]})]
        return []

    def block_delta(self, index: Any, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self.chunk({"content": delta.get("text") or ""})]
        if kind == "thinking_delta":
            return [self.chunk({"reasoning_content": delta.get("thinking") or ""})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            call = {
                "index": self.tools.get(index, 0),
                "function": {"arguments": delta["partial_json"]},
            }
            return [self.chunk({"tool_calls": [call]})]
        return []

    def message_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The finish chunk, then (with usage known) the usage chunk, as OpenAI sends them."""
        usage = event.get("usage") or {}
        self.usage.update({k: v for k, v in usage.items() if v is not None})  # cumulative
        delta = event.get("delta") or {}
        choice: dict[str, Any] = {
            "index": 0,
            "delta": {},
            "finish_reason": finish_reason_of(delta.get("stop_reason")) or "stop",
        }
        if delta.get("stop_sequence"):
            choice["stop_reason"] = delta["stop_sequence"]
        chunks = [{**self.head, "choices": [choice]}]
        if "input_tokens" in self.usage or "output_tokens" in self.usage:
            chunks.append({**self.head, "choices": [], "usage": canonical_usage(self.usage)})
        return chunks


def to_chunks(events: Iterator[dict[str, Any]], *, native: bool) -> Iterator[dict[str, Any]]:
    """Canonical chunks; for a native call each event rides on the first chunk it produced
    (or on a bare chunk of its own), so the client gets exactly the upstream's events."""
    translator = ChunkTranslator()
    for event in events:
        chunks = translator.translate(event)
        if native:
            if not chunks:
                chunks = [{**translator.head, "choices": []}]
            chunks[0][NATIVE_EVENTS] = [event]
        yield from chunks
