"""OpenAI wire format: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models."""

from __future__ import annotations

import time
from typing import Any

from .base import (
    CREATED_EPOCH,
    ApiError,
    Ctx,
    Response,
    Stream,
    dumps,
    error_payload,
    random_id,
    request_id_headers,
)
from .content import (
    DEFAULT_EMBEDDING_DIMS,
    Chat,
    Reply,
    Tool,
    Turn,
    count_tokens,
    embedding,
    embedding_base64,
    embedding_inputs,
    make_reply,
    prompt_tokens,
    text_of,
)

SSE = "text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"
FINISH = {"end": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
GARBAGE = b'data: {"id":"chatcmpl-garbage","choices":[{"delta": oops\n\n'


def _int(body: dict[str, Any], *names: str) -> int | None:
    for name in names:
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ApiError(
                    400, f"Invalid '{name}': expected a non-negative integer.", param=name
                )
            return value
    return None


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ApiError(400, "Invalid 'stop': expected a string or an array of strings.", param="stop")


def parse_chat(body: dict[str, Any]) -> Chat:
    """A chat-completions request body as a neutral :class:`Chat`."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Invalid 'messages': expected a non-empty array.", param="messages")
    chat = Chat(model=str(body.get("model")))
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise ApiError(400, "Invalid 'messages': each message needs a role.", param="messages")
        role = message["role"]
        role = "system" if role == "developer" else role
        text, images = text_of(message.get("content"))
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                calls.append((str(function.get("name", "")), str(function.get("arguments") or "")))
        tool_result = role in ("tool", "function")
        chat.turns.append(
            Turn(
                role=str(role), text=text, images=images, tool_calls=calls, tool_result=tool_result
            )
        )
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name"):
            chat.tools.append(
                Tool(
                    str(function["name"]),
                    str(function.get("description") or ""),
                    function.get("parameters") or {},
                )
            )
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        chat.tool_choice = str((choice.get("function") or {}).get("name") or "required")
    elif isinstance(choice, str):
        chat.tool_choice = choice
    chat.max_tokens = _int(body, "max_completion_tokens", "max_tokens")
    chat.stop = _stop(body.get("stop"))
    response_format = body.get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        chat.json_mode = True
        if response_format["type"] == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            chat.json_schema = schema if isinstance(schema, dict) else None
    chat.reasoning = body.get("reasoning_effort") is not None or "reason" in chat.model.lower()
    return chat


def usage(prompt: int, reply: Reply | None = None, completion: int | None = None) -> dict[str, Any]:
    done = completion if completion is not None else (reply.completion_tokens if reply else 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": done,
        "total_tokens": prompt + done,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens if reply else 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _error_frame() -> bytes:
    return b"data: " + dumps(error_payload("openai", 500)) + b"\n\n"


def chat_completions(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    chat = parse_chat(body)
    info.apply(chat)
    ctx.record["system"] = chat.system_text() or None
    reply = make_reply(chat, ctx.directives, ctx.config["reply_tokens"])
    prompt = prompt_tokens(chat)
    if ctx.directives.prompt_tokens is not None:  # a hostile or broken upstream's count
        prompt = ctx.directives.prompt_tokens
    created = int(time.time())
    completion_id = "chatcmpl-" + random_id(29)
    model = body["model"]
    fingerprint = ctx.state.fingerprint
    call_id = "call_" + random_id(24) if reply.tool_name else ""
    finish = FINISH[reply.finish]
    headers = request_id_headers("openai")
    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if reply.tool_name else reply.text,
            "refusal": None,
            "annotations": [],
        }
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_name:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": reply.tool_name, "arguments": reply.tool_arguments},
                }
            ]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        if reply.stop_sequence is not None:
            choice["stop_reason"] = reply.stop_sequence  # vLLM: the stop string that matched
        result: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        if not ctx.no_usage:
            result["usage"] = usage(prompt, reply)
        result["service_tier"] = "default"
        result["system_fingerprint"] = fingerprint
        return Response(200, dumps(result), headers=headers)

    options = body.get("stream_options") or {}
    include_usage = (
        bool(isinstance(options, dict) and options.get("include_usage")) and not ctx.no_usage
    )
    head = (
        b'{"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
        b'"system_fingerprint":"%s","choices":'
        % (completion_id.encode(), created, dumps(model), fingerprint.encode())
    )
    tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"

    def frame(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return b"data: " + head + dumps([{**choice, **extra}]) + tail

    first: dict[str, Any] = {
        "role": "assistant",
        "content": None if reply.tool_name else "",
        "refusal": None,
    }
    frames = [frame(first)]
    frames += [frame({"reasoning_content": piece}) for piece in reply.reasoning_pieces]
    if reply.tool_name:
        frames.append(
            frame(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": reply.tool_name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        frames += [
            frame({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in reply.argument_pieces()
        ]
    else:
        frames += [frame({"content": piece}) for piece in reply.pieces]
    matched = {} if reply.stop_sequence is None else {"stop_reason": reply.stop_sequence}
    frames.append(frame({}, finish, **matched))
    if include_usage:
        frames.append(b"data: " + head + b'[],"usage":' + dumps(usage(prompt, reply)) + b"}\n\n")
    frames.append(DONE)
    return Stream(SSE, frames, _error_frame(), GARBAGE, headers)


def completions(ctx: Ctx) -> Response | Stream:
    """Legacy /v1/completions: one choice per prompt string."""
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    raw = body.get("prompt", "")
    if isinstance(raw, str):
        prompts = [raw]
    elif isinstance(raw, list) and all(isinstance(p, str) for p in raw) and raw:
        prompts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(p, int) for p in raw):
        prompts = [" ".join(str(p) for p in raw)]
    else:
        raise ApiError(
            400, "Invalid 'prompt': expected a string or an array of strings.", param="prompt"
        )
    max_tokens = _int(body, "max_tokens")
    stop = _stop(body.get("stop"))
    replies = []
    prompt = 0
    for text in prompts:
        chat = Chat(
            model=str(body["model"]), turns=[Turn("user", text)], max_tokens=max_tokens, stop=stop
        )
        info.apply(chat)
        replies.append(make_reply(chat, ctx.directives, ctx.config["reply_tokens"]))
        prompt += count_tokens(text) + (count_tokens(chat.system) if chat.system else 0)
    completion = sum(r.completion_tokens for r in replies)
    created = int(time.time())
    completion_id = "cmpl-" + random_id(29)
    base = {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": body["model"],
    }
    fingerprint = ctx.state.fingerprint
    headers = request_id_headers("openai")
    if not body.get("stream"):
        choices = [
            {"text": r.text, "index": i, "logprobs": None, "finish_reason": FINISH[r.finish]}
            for i, r in enumerate(replies)
        ]
        result = {**base, "choices": choices, "system_fingerprint": fingerprint}
        if not ctx.no_usage:
            result["usage"] = usage(prompt, completion=completion)
        return Response(200, dumps(result), headers=headers)
    options = body.get("stream_options") or {}
    include_usage = (
        bool(isinstance(options, dict) and options.get("include_usage")) and not ctx.no_usage
    )
    frames = []

    def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {**base, "choices": choices, "system_fingerprint": fingerprint, **extra}
        if include_usage and "usage" not in extra:
            chunk["usage"] = None
        return b"data: " + dumps(chunk) + b"\n\n"

    for i, r in enumerate(replies):
        frames += [
            frame([{"text": piece, "index": i, "logprobs": None, "finish_reason": None}])
            for piece in r.pieces
        ]
        frames.append(
            frame([{"text": "", "index": i, "logprobs": None, "finish_reason": FINISH[r.finish]}])
        )
    if include_usage:
        frames.append(frame([], usage=usage(prompt, completion=completion)))
    frames.append(DONE)
    return Stream(SSE, frames, _error_frame(), GARBAGE, headers)


def embeddings(ctx: Ctx) -> Response:
    body = ctx.body
    ctx.state.model(ctx, body)
    if "input" not in body:
        raise ApiError(400, "Missing required parameter: 'input'.", param="input")
    try:
        inputs = embedding_inputs(body["input"])
    except ValueError as exc:
        raise ApiError(400, f"Invalid 'input': {exc}.", param="input") from None
    if not inputs:
        raise ApiError(400, "Invalid 'input': expected a non-empty value.", param="input")
    dims = _int(body, "dimensions") or DEFAULT_EMBEDDING_DIMS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, (key, _tokens) in enumerate(inputs):
        vector = embedding(key, dims)
        data.append(
            {
                "object": "embedding",
                "index": index,
                "embedding": embedding_base64(vector) if as_base64 else list(vector),
            }
        )
    result: dict[str, Any] = {"object": "list", "data": data, "model": body["model"]}
    if not ctx.no_usage:
        tokens = sum(t for _k, t in inputs)
        result["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return Response(200, dumps(result), headers=request_id_headers("openai"))


def _model_object(info: Any) -> dict[str, Any]:
    return {"id": info.name, "object": "model", "created": CREATED_EPOCH, "owned_by": info.owned_by}


def list_models(ctx: Ctx) -> Response:
    data = [_model_object(info) for info in ctx.state.models.values()]
    return Response(
        200, dumps({"object": "list", "data": data}), headers=request_id_headers("openai")
    )


def retrieve_model(ctx: Ctx) -> Response:
    name = ctx.path[len("/v1/models/") :]
    info = ctx.state.resolve(name)
    if info is None:
        raise ApiError(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return Response(200, dumps(_model_object(info)), headers=request_id_headers("openai"))
