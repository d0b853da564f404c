"""OpenAI's Responses API: ``POST /v1/responses`` (an upstream that serves it natively).

The request's input items become a chat (instructions as a system prompt, messages, function
calls and their outputs, flat function tools, ``text.format``, ``reasoning``,
``max_output_tokens``) answered by the same deterministic model as chat completions. Streams send
OpenAI's event sequence (``event:`` + ``data:`` lines with ``sequence_number``) ending with
``response.completed`` (``response.incomplete`` when cut by max_output_tokens); no ``[DONE]``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .base import ApiError, Ctx, Response, Stream, dumps, random_id, request_id_headers
from .content import make_reply, prompt_tokens
from .openai_api import parse_chat

SSE = "text/event-stream; charset=utf-8"
GARBAGE = b'event: response.output_text.delta\ndata: {"type": oops\n\n'


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses request as the chat-completions body the fake's model reads."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise ApiError(400, "Invalid 'input': expected a string or an array.", param="input")
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    for item in items:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid 'input': expected objects.", param="input")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": item.get("content")})
        elif kind == "function_call":
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments")},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": str(item.get("output")),
                }
            )
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    ]
    if tools:
        chat["tools"] = [
            {
                "type": "function",
                "function": {k: t.get(k) for k in ("name", "description", "parameters")},
            }
            for t in tools
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("name"):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif isinstance(choice, str):
        chat["tool_choice"] = choice
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"schema": fmt.get("schema")},
        }
    elif fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    if (body.get("reasoning") or {}).get("effort") not in (None, "none"):
        chat["reasoning_effort"] = body["reasoning"]["effort"]
    return chat


def responses(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    chat = parse_chat(chat_body(body))
    info.apply(chat)
    ctx.record["system"] = chat.system_text() or None
    reply = make_reply(chat, ctx.directives, ctx.config["reply_tokens"])
    prompt = prompt_tokens(chat)
    response_id = "resp_" + random_id(48)
    created = int(time.time())
    output: list[dict[str, Any]] = []
    if reply.reasoning:
        output.append(
            {
                "id": "rs_" + random_id(48),
                "type": "reasoning",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": reply.reasoning}],
            }
        )
    if reply.tool_name:
        output.append(
            {
                "id": "fc_" + random_id(48),
                "type": "function_call",
                "status": "completed",
                "call_id": "call_" + random_id(24),
                "name": reply.tool_name,
                "arguments": reply.tool_arguments,
            }
        )
    else:
        output.append(
            {
                "id": "msg_" + random_id(48),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
                ],
            }
        )
    incomplete = reply.finish == "length"
    usage = None
    if not ctx.no_usage:
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": reply.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": prompt + reply.completion_tokens,
        }

    def response_object(status: str, items: list[dict[str, Any]], used: Any) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "instructions": body.get("instructions"),
            "model": body["model"],
            "output": items,
            "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "usage": used,
            "store": body.get("store", True),
            "metadata": {},
        }

    final_status = "incomplete" if incomplete else "completed"
    headers = request_id_headers("openai")
    if not body.get("stream"):
        return Response(200, dumps(response_object(final_status, output, usage)), headers=headers)

    events: list[tuple[str, dict[str, Any]]] = []
    start = response_object("in_progress", [], None)
    events += [
        ("response.created", {"response": start}),
        ("response.in_progress", {"response": start}),
    ]
    for index, item in enumerate(output):
        at = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            events.append(
                (
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "content": []},
                    },
                )
            )
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(
                ("response.content_part.added", {**at, "content_index": 0, "part": empty})
            )
            for piece in reply.pieces:
                events.append(
                    (
                        "response.output_text.delta",
                        {**at, "content_index": 0, "delta": piece, "logprobs": []},
                    )
                )
            events.append(
                (
                    "response.output_text.done",
                    {**at, "content_index": 0, "text": reply.text, "logprobs": []},
                )
            )
            events.append(
                (
                    "response.content_part.done",
                    {**at, "content_index": 0, "part": item["content"][0]},
                )
            )
        elif item["type"] == "reasoning":
            events.append(
                (
                    "response.output_item.added",
                    {"output_index": index, "item": {**item, "content": []}},
                )
            )
            for piece in reply.reasoning_pieces:
                events.append(
                    ("response.reasoning_text.delta", {**at, "content_index": 0, "delta": piece})
                )
            events.append(
                (
                    "response.reasoning_text.done",
                    {**at, "content_index": 0, "text": reply.reasoning},
                )
            )
        else:
            events.append(
                (
                    "response.output_item.added",
                    {
                        "output_index": index,
                        "item": {**item, "status": "in_progress", "arguments": ""},
                    },
                )
            )
            for piece in reply.argument_pieces():
                events.append(("response.function_call_arguments.delta", {**at, "delta": piece}))
            events.append(
                (
                    "response.function_call_arguments.done",
                    {**at, "name": item["name"], "arguments": item["arguments"]},
                )
            )
        events.append(("response.output_item.done", {"output_index": index, "item": item}))
    events.append(
        (f"response.{final_status}", {"response": response_object(final_status, output, usage)})
    )
    frames = [
        f"event: {kind}\ndata: ".encode()
        + dumps({"type": kind, **fields, "sequence_number": number})
        + b"\n\n"
        for number, (kind, fields) in enumerate(events)
    ]
    failed = {
        "type": "error",
        "code": "server_error",
        "message": "The server had an error.",
        "param": None,
    }
    error_frame = b"event: error\ndata: " + json.dumps(failed).encode() + b"\n\n"
    return Stream(SSE, frames, error_frame, GARBAGE, headers)
