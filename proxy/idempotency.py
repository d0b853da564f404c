"""Idempotent calls: a client that sends `Idempotency-Key` (or seed 002's `X-Request-Id`) gets,
for a repeat of the same call within 24 hours, the stored answer (`Idempotent-Replayed: true`)
with no upstream call and no charge. Scoped per workspace and endpoint. A repeat while the first
is still running → 409; the same key with another body → 422. Only successful answers are kept,
so a failed call may simply be retried.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from .errors import ApiError

KEEP_SECONDS = 24 * 3600
IN_FLIGHT_SECONDS = 15 * 60  # a crashed first attempt does not block its key for a day
HEADERS = ("HTTP_IDEMPOTENCY_KEY", "HTTP_X_REQUEST_ID")


@dataclass(frozen=True)
class Claim:
    name: str
    digest: str


def client_key(meta: dict[str, Any], supplied_request_id: bool) -> str | None:
    """The key the client chose: Idempotency-Key, else an X-Request-Id it sent itself."""
    key = meta.get("HTTP_IDEMPOTENCY_KEY", "").strip()
    if key:
        return key[:200]
    return meta.get("HTTP_X_REQUEST_ID", "").strip()[:200] if supplied_request_id else None


def digest_of(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def claim(workspace_id: str, endpoint: str, key: str, body: dict[str, Any]) -> Claim | dict:
    """A Claim to go ahead with, or the stored canonical result to replay."""
    name = f"idem:{workspace_id}:{endpoint}:{hashlib.sha256(key.encode()).hexdigest()}"
    digest = digest_of(body)
    if cache.add(name, {"state": "running", "digest": digest}, timeout=IN_FLIGHT_SECONDS):
        return Claim(name, digest)
    stored = cache.get(name)
    if stored is None:  # it expired between the two calls: take it now
        return claim(workspace_id, endpoint, key, body)
    if stored["digest"] != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "This idempotency key was used with a different request body.",
        )
    if stored["state"] == "running":
        raise ApiError(
            409,
            "idempotency_in_flight",
            "A request with this idempotency key is still being processed; retry shortly.",
        )
    return stored["result"]


def complete(claim: Claim, result: dict[str, Any]) -> None:
    cache.set(
        claim.name,
        {"state": "done", "digest": claim.digest, "result": result},
        timeout=KEEP_SECONDS,
    )


def release(claim: Claim) -> None:
    """The call failed: forget the key, so that the client may try again."""
    cache.delete(claim.name)


class Accumulator:
    """Builds the final chat.completion (or text_completion) from a stream's chunks."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.stop_reason: str | None = None  # the stop sequence matched (vLLM, Anthropic)
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        if not self.head:
            self.head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
            self.head["object"] = chunk.get("object", "chat.completion.chunk")
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            if isinstance(choice.get("stop_reason"), str):
                self.stop_reason = choice["stop_reason"]
            if isinstance(choice.get("text"), str):
                self.text.append(choice["text"])
            delta = choice.get("delta") or {}
            self.content.append(delta.get("content") or "")
            self.reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
            for call in delta.get("tool_calls") or ():
                slot = self.tool_calls.setdefault(
                    call.get("index", 0),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""

    def result(self) -> dict[str, Any]:
        if self.head.get("object") == "text_completion":
            choice: dict[str, Any] = {"index": 0, "text": "".join(self.text)}
        else:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(self.content) or None,
            }
            if any(self.reasoning):
                message["reasoning_content"] = "".join(self.reasoning)
            if self.tool_calls:
                message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
            choice = {"index": 0, "message": message}
        choice["finish_reason"] = self.finish_reason
        if self.stop_reason:
            choice["stop_reason"] = self.stop_reason
        kind = (
            "text_completion" if self.head.get("object") == "text_completion" else "chat.completion"
        )
        return {**self.head, "object": kind, "choices": [choice], "usage": self.usage}


def as_chunks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored final result, as the chunks of a stream (for replaying a streamed call)."""
    head = {k: result.get(k) for k in ("id", "created", "model", "system_fingerprint")}
    choice = (result.get("choices") or [{}])[0]
    if result.get("object") == "text_completion":
        first = {"index": 0, "text": choice.get("text", ""), "finish_reason": None}
        last = {"index": 0, "text": "", "finish_reason": choice.get("finish_reason")}
        kind = "text_completion"
    else:
        message = {k: v for k, v in (choice.get("message") or {}).items() if v is not None}
        tool_calls = [{**c, "index": i} for i, c in enumerate(message.pop("tool_calls", []))]
        if tool_calls:
            message["tool_calls"] = tool_calls
        first = {"index": 0, "delta": message, "finish_reason": None}
        last = {"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}
        if choice.get("stop_reason"):
            last["stop_reason"] = choice["stop_reason"]
        kind = "chat.completion.chunk"
    chunks = [
        {**head, "object": kind, "choices": [first]},
        {**head, "object": kind, "choices": [last]},
    ]
    if result.get("usage"):
        chunks.append({**head, "object": kind, "choices": [], "usage": result["usage"]})
    return chunks
