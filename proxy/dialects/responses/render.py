"""Answers in the Responses API's shapes: the `response` object, its output items (reasoning,
message, function_call, custom_tool_call), usage, and the streamed event sequence with a
`sequence_number` on every event:

    response.created, response.in_progress,
    per item: response.output_item.added,
      message:   response.content_part.added, response.output_text.delta…,
                 response.output_text.done, response.content_part.done
      reasoning: response.content_part.added, response.reasoning_text.delta…,
                 response.reasoning_text.done, response.content_part.done
      function:  response.function_call_arguments.delta…, response.function_call_arguments.done
      custom:    response.custom_tool_call_input.delta, response.custom_tool_call_input.done
    response.output_item.done,
    response.completed (or response.incomplete when cut by max_output_tokens),
    response.failed when the upstream fails after the start.

An answer from an upstream that serves /v1/responses itself carries its own events
(`chunk["_responses_events"]`) or object (`result["_responses"]`): those are relayed with the
gateway's id, the name the client called and our sequence numbers.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from .parse import NATIVE, ResponsesRequest

NATIVE_EVENTS = "_responses_events"
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def sse(kind: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {data}\n\n".encode()


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Canonical (chat) usage as the Responses API reports it."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(reasoning)},
        "total_tokens": prompt + completion,
    }


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Responses usage object as canonical (chat) usage: what metering reads."""
    if not isinstance(usage, dict) or "input_tokens" not in usage:
        return None
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
        },
        "completion_tokens_details": {
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
            or 0
        },
    }


class ResponseShape:
    """The response object of one request: what it echoes, its id and creation time."""

    def __init__(self, request: ResponsesRequest, model: str) -> None:
        self.request = request
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.model = model

    def object(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        *,
        error: dict[str, Any] | None = None,
        incomplete: str | None = None,
    ) -> dict[str, Any]:
        body = self.request.body

        def given(name: str, default: Any) -> Any:  # a field sent as null echoes its default
            return default if body.get(name) is None else body[name]

        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": given("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {
                "effort": reasoning.get("effort"),
                "summary": reasoning.get("summary"),
            },
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": self.request.store,
            "temperature": given("temperature", 1.0),
            "text": {
                "format": text.get("format") or {"type": "text"},
                "verbosity": text.get("verbosity") or "medium",
            },
            "tool_choice": given("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": given("top_logprobs", 0),
            "top_p": given("top_p", 1.0),
            "truncation": given("truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def native(self, native: dict[str, Any]) -> dict[str, Any]:
        """A native upstream's response object under the gateway's id and the called name, and
        what the client asked of the gateway (the upstream was sent store false and no
        previous_response_id: the gateway keeps and expands them)."""
        return {
            **native,
            "id": self.id,
            "model": self.model,
            "store": self.request.store,
            "previous_response_id": self.request.body.get("previous_response_id"),
        }


# --- items --------------------------------------------------------------------------------------


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [text_part(text)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def reasoning_item(item_id: str, text: str | None, encrypted: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}] if text is not None else [],
    }
    if encrypted:
        item["encrypted_content"] = None
    return item


def custom_input(arguments: str) -> str:
    """A freeform tool's input, from the arguments of the function it was bridged as."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]
    return arguments


def call_item(
    item_id: str,
    call_id: str,
    name: str,
    arguments: str,
    custom: bool,
    status: str = "completed",
) -> dict[str, Any]:
    if custom:
        return {
            "id": item_id,
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments) if status == "completed" else "",
        }
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_items(message: dict[str, Any], request: ResponsesRequest) -> list[dict[str, Any]]:
    """A canonical assistant message as output items: reasoning, then text, then calls."""
    items = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        encrypted = "reasoning.encrypted_content" in request.include
        items.append(reasoning_item(new_id("rs"), reasoning, encrypted))
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    if text or message.get("refusal"):
        if message.get("refusal") and not text:
            item = message_item(new_id("msg"), "")
            item["content"] = [{"type": "refusal", "refusal": message["refusal"]}]
            items.append(item)
        else:
            items.append(message_item(new_id("msg"), text))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        items.append(
            call_item(
                new_id("ctc" if name in request.custom_tools else "fc"),
                str(call.get("id") or new_id("call")),
                name,
                str(function.get("arguments") or ""),
                name in request.custom_tools,
            )
        )
    return items


def completed_object(
    shape: ResponseShape, result: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the response object, its usage) of a whole canonical answer."""
    if isinstance(result.get(NATIVE), dict):
        native = shape.native(result[NATIVE])
        native["usage"] = native.get("usage") or responses_usage(result.get("usage"))
        return native, native["usage"]
    choice = (result.get("choices") or [{}])[0]
    output = output_items(choice.get("message") or {}, shape.request)
    usage = responses_usage(result.get("usage"))
    incomplete = INCOMPLETE_REASONS.get(choice.get("finish_reason") or "")
    status = "incomplete" if incomplete else "completed"
    return shape.object(status, output, usage, incomplete=incomplete), usage


# --- streams ------------------------------------------------------------------------------------


class OpenItem:
    """The output item being streamed: its kind, place, id and what it has gathered."""

    def __init__(self, kind: str, index: int, item_id: str, key: Any = None) -> None:
        self.kind = kind  # message | reasoning | call
        self.index = index
        self.id = item_id
        self.key = key  # a call's index among the canonical tool calls
        self.text = ""
        self.call_id = ""
        self.name = ""
        self.custom = False


class StreamRenderer:
    """Canonical chunks → the Responses event sequence. `keep` gets the final response object
    once its last event has been handed on (stored responses are written then)."""

    def __init__(
        self, shape: ResponseShape, keep: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.shape = shape
        self.request = shape.request
        self.keep = keep
        self.sequence = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.open: OpenItem | None = None
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.native_final: dict[str, Any] | None = None

    def event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return sse(kind, payload)

    def start(self) -> Iterator[bytes]:
        if self.started:
            return
        self.started = True
        snapshot = self.shape.object("in_progress", [], None)
        yield self.event("response.created", response=snapshot)
        yield self.event("response.in_progress", response=snapshot)

    def events(self, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        for chunk in chunks:
            if NATIVE_EVENTS in chunk:
                yield from self.relay(chunk[NATIVE_EVENTS])
                continue
            yield from self.start()
            if isinstance(chunk.get("usage"), dict):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                yield from self.translate(choice.get("delta") or {})
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
        yield from self.start()
        if self.native_final is not None:
            final = self.native_final
        else:
            yield from self.close()
            final = self.final_object()
            kind = (
                "response.incomplete" if final["status"] == "incomplete" else "response.completed"
            )
            yield self.event(kind, response=final)
        if self.keep is not None:
            self.keep(final)

    def final_object(self) -> dict[str, Any]:
        incomplete = INCOMPLETE_REASONS.get(self.finish_reason or "")
        return self.shape.object(
            "incomplete" if incomplete else "completed",
            self.output,
            responses_usage(self.usage),
            incomplete=incomplete,
        )

    def failed(self, code: str, message: str) -> bytes:
        """The last event of a stream that failed after its start (response.failed)."""
        head = b"".join(self.start())
        error = {"code": code, "message": message}
        return head + self.event(
            "response.failed",
            response=self.shape.object(
                "failed", self.output, responses_usage(self.usage), error=error
            ),
        )

    # --- canonical deltas

    def translate(self, delta: dict[str, Any]) -> Iterator[bytes]:
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            yield from self.text_delta("reasoning", reasoning)
        for name in ("content", "refusal"):
            if isinstance(delta.get(name), str) and delta[name]:
                yield from self.text_delta("message", delta[name])
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                yield from self.call_delta(call)

    def text_delta(self, kind: str, piece: str) -> Iterator[bytes]:
        item = self.open
        if item is None or item.kind != kind:
            yield from self.close()
            item = self.open = OpenItem(
                kind, len(self.output), new_id("msg" if kind == "message" else "rs")
            )
            if kind == "message":
                added = message_item(item.id, "", "in_progress")
                part = text_part("")
            else:
                added = reasoning_item(item.id, None, False)
                part = {"type": "reasoning_text", "text": ""}
            yield self.event("response.output_item.added", output_index=item.index, item=added)
            yield self.event(
                "response.content_part.added",
                item_id=item.id,
                output_index=item.index,
                content_index=0,
                part=part,
            )
        item.text += piece
        fields: dict[str, Any] = {
            "item_id": item.id,
            "output_index": item.index,
            "content_index": 0,
            "delta": piece,
        }
        if kind == "message":
            yield self.event("response.output_text.delta", **fields, logprobs=[])
        else:
            yield self.event("response.reasoning_text.delta", **fields)

    def call_delta(self, call: dict[str, Any]) -> Iterator[bytes]:
        key = call.get("index", 0)
        function = call.get("function") or {}
        item = self.open
        if item is None or item.kind != "call" or item.key != key:
            yield from self.close()
            name = str(function.get("name") or "")
            custom = name in self.request.custom_tools
            item = self.open = OpenItem(
                "call", len(self.output), new_id("ctc" if custom else "fc"), key
            )
            item.call_id = str(call.get("id") or new_id("call"))
            item.name = name
            item.custom = custom
            added = call_item(item.id, item.call_id, name, "", custom, "in_progress")
            yield self.event("response.output_item.added", output_index=item.index, item=added)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text += arguments
            if not item.custom:  # a freeform input is known once its JSON is whole
                yield self.event(
                    "response.function_call_arguments.delta",
                    item_id=item.id,
                    output_index=item.index,
                    delta=arguments,
                )

    def close(self) -> Iterator[bytes]:
        """The done events of the item being streamed, if any."""
        item, self.open = self.open, None
        if item is None:
            return
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "message":
            part = text_part(item.text)
            yield self.event(
                "response.output_text.done", **where, content_index=0, text=item.text, logprobs=[]
            )
            yield self.event("response.content_part.done", **where, content_index=0, part=part)
            done = message_item(item.id, item.text)
        elif item.kind == "reasoning":
            part = {"type": "reasoning_text", "text": item.text}
            yield self.event(
                "response.reasoning_text.done", **where, content_index=0, text=item.text
            )
            yield self.event("response.content_part.done", **where, content_index=0, part=part)
            encrypted = "reasoning.encrypted_content" in self.request.include
            done = reasoning_item(item.id, item.text, encrypted)
        else:
            done = call_item(item.id, item.call_id, item.name, item.text, item.custom)
            if item.custom:
                yield self.event(
                    "response.custom_tool_call_input.delta", **where, delta=done["input"]
                )
                yield self.event(
                    "response.custom_tool_call_input.done", **where, input=done["input"]
                )
            else:
                yield self.event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item.name,
                    arguments=item.text,
                )
        self.output.append(done)
        yield self.event("response.output_item.done", output_index=item.index, item=done)

    # --- a native upstream's events

    def relay(self, events: list[dict[str, Any]]) -> Iterator[bytes]:
        for native in events:
            kind = native.get("type")
            if not isinstance(kind, str):
                continue
            fields = {k: v for k, v in native.items() if k not in ("type", "sequence_number")}
            if isinstance(fields.get("response"), dict):
                fields["response"] = self.shape.native(fields["response"])
                if kind in ("response.completed", "response.incomplete", "response.failed"):
                    self.native_final = fields["response"]
            if kind == "response.created":
                self.started = True
            yield self.event(kind, **fields)
