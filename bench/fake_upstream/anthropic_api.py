"""Anthropic wire format: /v1/messages (plain and streamed) and /v1/messages/count_tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .base import (
    ApiError,
    Ctx,
    Response,
    Stream,
    dumps,
    error_payload,
    random_id,
    request_id_headers,
)
from .content import Chat, Reply, Tool, Turn, make_reply, prompt_tokens, text_of

SSE = "text/event-stream; charset=utf-8"
STOP_REASON = {
    "end": "end_turn",
    "length": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool": "tool_use",
}
GARBAGE = b"event: content_block_delta\ndata: {oops\n\n"


UNEXPECTED_SYSTEM = (
    'messages: Unexpected role "system". The Messages API accepts a top-level `system` '
    'parameter, not "system" as an input message role.'
)


def mid_conversation_system(message: dict[str, Any]) -> str:
    """A `{"role": "system"}` message inside `messages` (mid-conversation system messages):
    text only, else refused in Anthropic's words."""
    content = message.get("content")
    blocks = [content] if isinstance(content, str) else content
    if not isinstance(blocks, list) or not all(
        isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text") for b in blocks
    ):
        raise ApiError(400, UNEXPECTED_SYSTEM)
    return text_of(content)[0]


def parse_messages(body: dict[str, Any], *, need_max_tokens: bool = True) -> Chat:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages: Field required")
    max_tokens = body.get("max_tokens")
    if need_max_tokens and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise ApiError(
            400,
            "max_tokens: Field required"
            if max_tokens is None
            else "max_tokens: must be at least 1",
        )
    chat = Chat(model=str(body.get("model")), max_tokens=max_tokens if need_max_tokens else None)
    system = body.get("system")
    if system:
        chat.system = text_of(system)[0]
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "system":
            chat.turns.append(Turn(role="system", text=mid_conversation_system(message)))
            continue
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ApiError(400, f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        text, images = text_of(content)
        calls = []
        tool_result = False
        if isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_use":
                    calls.append((str(block.get("name", "")), json.dumps(block.get("input") or {})))
                elif block.get("type") == "tool_result":
                    tool_result = True
        chat.turns.append(
            Turn(
                role=message["role"],
                text=text,
                images=images,
                tool_calls=calls,
                tool_result=tool_result,
            )
        )
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("name"):
            chat.tools.append(
                Tool(
                    str(tool["name"]),
                    str(tool.get("description") or ""),
                    tool.get("input_schema") or {},
                )
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        chat.tool_choice = {"any": "required", "tool": str(choice.get("name"))}.get(
            kind, str(kind or "auto")
        )
    stops = body.get("stop_sequences") or []
    chat.stop = [str(s) for s in stops] if isinstance(stops, list) else []
    thinking = body.get("thinking")
    chat.reasoning = isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled")
    return chat


def signature(text: str) -> str:
    return base64.b64encode(b"fake-signature:" + hashlib.sha256(text.encode()).digest()).decode()


def _usage(prompt: int, output: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _blocks(reply: Reply, tool_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append(
            {
                "type": "thinking",
                "thinking": reply.reasoning,
                "signature": signature(reply.reasoning),
            }
        )
    if reply.tool_name:
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id,
                "name": reply.tool_name,
                "input": reply.tool_input(),
            }
        )
    else:
        blocks.append({"type": "text", "text": reply.text})
    return blocks


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def messages(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    chat = parse_messages(body)
    info.apply(chat)
    ctx.record["system"] = chat.system_text() or None
    reply = make_reply(chat, ctx.directives, ctx.config["reply_tokens"])
    prompt = prompt_tokens(chat)
    message_id = "msg_01" + random_id(22)
    tool_id = "toolu_01" + random_id(22)
    stop_reason = STOP_REASON[reply.finish]
    headers = request_id_headers("anthropic")
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": _blocks(reply, tool_id),
        "stop_reason": stop_reason,
        "stop_sequence": reply.stop_sequence,
    }
    if not body.get("stream"):
        if not ctx.no_usage:
            message["usage"] = _usage(prompt, reply.completion_tokens)
        return Response(200, dumps(message), headers=headers)

    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    if not ctx.no_usage:
        start["usage"] = _usage(prompt, 1)
    frames = [_event("message_start", {"type": "message_start", "message": start})]
    index = 0

    def block(content_block: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        frames.append(
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": content_block},
            )
        )
        if index == 0:
            frames.append(_event("ping", {"type": "ping"}))
        frames.extend(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            for delta in deltas
        )
        frames.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if reply.reasoning:
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in reply.reasoning_pieces]
        deltas.append({"type": "signature_delta", "signature": signature(reply.reasoning)})
        block({"type": "thinking", "thinking": "", "signature": ""}, deltas)
    if reply.tool_name:
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [
            {"type": "input_json_delta", "partial_json": piece} for piece in reply.argument_pieces()
        ]
        block({"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": {}}, deltas)
    else:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": piece} for piece in reply.pieces],
        )
    delta_event: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": reply.stop_sequence},
    }
    if not ctx.no_usage:
        delta_event["usage"] = {"output_tokens": reply.completion_tokens}
    frames.append(_event("message_delta", delta_event))
    frames.append(_event("message_stop", {"type": "message_stop"}))
    error = _event("error", error_payload("anthropic", 529))
    return Stream(SSE, frames, error, GARBAGE, headers)


def count_tokens(ctx: Ctx) -> Response:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    chat = parse_messages(body, need_max_tokens=False)
    info.apply(chat)
    return Response(
        200, dumps({"input_tokens": prompt_tokens(chat)}), headers=request_id_headers("anthropic")
    )
