"""The Anthropic Messages dialect (`POST /v1/messages`): what Claude Code and the anthropic SDK
speak.

Requests are validated and translated to the canonical (OpenAI chat) shape by `to_canonical`,
naming faulty fields the way Anthropic does (`messages.2.content.0.type: …`). The client's own
body travels along under the private key `_anthropic`, so that an Anthropic upstream can be sent
exactly what the client wrote (no lossy round trip through the canonical shape); an answer from
such an upstream carries its native form back (`result["_anthropic"]`, or
`chunk["_anthropic_events"]` on stream chunks) and is rendered as it is. Answers from any other
upstream are rendered from the canonical shape: blocks, stop reasons, usage and Anthropic's
exact stream event sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, JsonResponse

from billing.metering import Call
from billing.services import catalog_settings

from ...anthropic_format import (
    NATIVE,
    NATIVE_EVENTS,
    anthropic_usage,
    error_type,
    event,
    message_id,
    stop_reason_of,
    tool_use_block,
    tool_use_id,
)
from ...errors import ApiError
from ...validation import (
    MAX_TOOLS,
    check_boolean,
    check_integer,
    check_length,
    check_number,
    fault,
    require_messages,
    require_string,
    type_name,
)

BLOCK_TYPES = (
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
)
# Blocks of the tools Anthropic runs itself: an Anthropic upstream gets them in the client's own
# body; an OpenAI-style model has no use for them, so the canonical shape leaves them out.
SERVER_BLOCKS = frozenset(
    {
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "tool_reference",
    }
)
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


# --- requests -----------------------------------------------------------------------------------


def to_canonical(body: dict[str, Any], *, need_max_tokens: bool = True) -> dict[str, Any]:
    """An Anthropic Messages request as a canonical chat request (400 naming the bad field)."""
    model = require_string(body, "model")
    if need_max_tokens and body.get("max_tokens") is None:
        raise fault("max_tokens", "Field required")
    check_integer(body, "max_tokens", 1)
    check_number(body, "temperature", 0, 1)
    check_number(body, "top_p", 0, 1)
    check_integer(body, "top_k", 0)
    check_boolean(body, "stream")
    canonical: dict[str, Any] = {
        "model": model,
        "messages": [*system_messages(body.get("system")), *chat_messages(body.get("messages"))],
    }
    for name in ("max_tokens", "temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            canonical[name] = body[name]
    if body.get("stream") is True:
        canonical["stream"] = True
    if (stop := stop_sequences(body.get("stop_sequences"))) is not None:
        canonical["stop"] = stop
    if tools := function_tools(body.get("tools")):
        canonical["tools"] = tools
    canonical.update(tool_choice(body.get("tool_choice")))
    if effort := reasoning_effort(body.get("thinking"), body.get("output_config")):
        canonical["reasoning_effort"] = effort
    if user := metadata_user(body.get("metadata")):
        canonical["user"] = user
    if response_format := output_format(body):
        canonical["response_format"] = response_format
    canonical[NATIVE] = body
    return canonical


def system_messages(value: Any) -> list[dict[str, Any]]:
    """`system` (a string, or text blocks whose cache_control is dropped) as one system message."""
    if value is None:
        return []
    text = system_text(value, "system")
    return [{"role": "system", "content": text}] if text else []


def system_text(value: Any, path: str) -> str:
    """The text of a system prompt: a string, or text blocks joined by newlines."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise fault(path, f"expected a string or an array of text blocks, got {type_name(value)}")
    texts = []
    for index, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise fault(f"{path}.{index}.type", 'expected a "text" block')
        texts.append(block_text(block, f"{path}.{index}"))
    return "\n".join(texts)


# Anthropic's own words for a message it cannot take in `messages`; Claude Code retries without
# its mid-conversation-system beta only when an error says "Unexpected role".
UNEXPECTED_SYSTEM = (
    'Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
    'not "system" as an input message role.'
)


def mid_conversation_system(message: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """A `{"role": "system"}` message inside `messages` (Claude Code's
    mid-conversation-system beta) as a system message in its place. Its content must be text,
    as Anthropic requires; other content is refused in Anthropic's words."""
    content = message.get("content")
    text_only = isinstance(content, str) or (
        isinstance(content, list)
        and all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
            for b in content
        )
    )
    if not text_only:
        raise fault("messages", UNEXPECTED_SYSTEM)
    text = system_text(content, f"{path}.content")
    return [{"role": "system", "content": text}] if text else []


def chat_messages(value: Any) -> list[dict[str, Any]]:
    canonical: list[dict[str, Any]] = []
    for index, message in enumerate(require_messages(value)):
        canonical += chat_message(message, f"messages.{index}")
    return canonical


def chat_message(message: Any, path: str) -> list[dict[str, Any]]:
    """One Anthropic message as canonical messages: a user turn's tool results become tool
    messages (first, as the tool calls they answer came just before)."""
    if not isinstance(message, dict):
        raise fault(path, f"expected an object, got {type_name(message)}")
    role = message.get("role")
    if role == "system":
        return mid_conversation_system(message, path)
    if role not in ("user", "assistant"):
        raise fault(f"{path}.role", "Input should be 'user', 'assistant' or 'system'")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise fault(
            f"{path}.content", f"expected a string or an array of blocks, got {type_name(content)}"
        )
    blocks = [(block, f"{path}.content.{i}") for i, block in enumerate(content)]
    return assistant_message(blocks) if role == "assistant" else user_messages(blocks)


def user_messages(blocks: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block, path in blocks:
        kind = block_type(block, path)
        if kind == "tool_result":
            message, images = tool_result(block, path)
            tool_messages.append(message)
            parts += images
        elif kind == "tool_use":
            raise fault(f"{path}.type", "tool_use blocks belong in assistant messages")
        else:
            parts += content_parts(block, path, kind)
    if not parts:
        return tool_messages
    only_text = len(parts) == 1 and parts[0]["type"] == "text"
    return [*tool_messages, {"role": "user", "content": parts[0]["text"] if only_text else parts}]


def assistant_message(blocks: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """Text and tool calls. Earlier thinking is left out: OpenAI-style models neither need nor
    accept their own past reasoning (an Anthropic upstream gets it in the client's body)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block, path in blocks:
        kind = block_type(block, path)
        if kind == "text":
            texts.append(block_text(block, path))
        elif kind == "tool_use":
            calls.append(tool_call(block, path))
        elif kind in ("image", "document", "search_result", "tool_result"):
            raise fault(f"{path}.type", f"{kind} blocks belong in user messages")
    if not texts and not calls:
        return []
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def block_type(block: Any, path: str) -> str:
    if not isinstance(block, dict):
        raise fault(path, f"expected a content block object, got {type_name(block)}")
    kind = block.get("type")
    if kind not in BLOCK_TYPES and kind not in SERVER_BLOCKS:
        raise fault(
            f"{path}.type",
            f"unknown content block type {json.dumps(kind)}; expected one of {', '.join(BLOCK_TYPES)}",
        )
    return kind


def block_text(block: dict[str, Any], path: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise fault(f"{path}.text", f"expected a string, got {type_name(text)}")
    return text


def content_parts(block: dict[str, Any], path: str, kind: str) -> list[dict[str, Any]]:
    """Canonical content parts of a user-side block (thinking and server blocks: none)."""
    if kind == "text":
        return [{"type": "text", "text": block_text(block, path)}]
    if kind == "image":
        return [image_part(block, path)]
    if kind == "document":
        return document_parts(block, path)
    if kind == "search_result":
        texts = [b.get("text") for b in block.get("content") or () if isinstance(b, dict)]
        return [{"type": "text", "text": "\n".join(t for t in texts if isinstance(t, str))}]
    if kind in ("tool_use", "tool_result"):
        raise fault(f"{path}.type", f"a {kind} block cannot appear here")
    return []


def nested_parts(blocks: list[Any], path: str) -> list[dict[str, Any]]:
    """The parts of blocks inside a block (a tool result's, a document's)."""
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        here = f"{path}.{index}"
        parts += content_parts(block, here, block_type(block, here))
    return parts


def source_of(block: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise fault(f"{path}.source", "Field required")
    return source, str(source.get("type"))


def base64_url(source: dict[str, Any], path: str, media_prefix: str) -> str:
    """A base64 source as a data: URL."""
    media = source.get("media_type")
    if not isinstance(media, str) or not media.startswith(media_prefix):
        raise fault(f"{path}.source.media_type", f"expected a {media_prefix}… media type")
    data = source.get("data")
    if not isinstance(data, str) or not data:
        raise fault(f"{path}.source.data", "expected base64 data")
    return f"data:{media};base64,{data}"


def image_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source, kind = source_of(block, path)
    if kind == "base64":
        url = base64_url(source, path, "image/")
    elif kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise fault(f"{path}.source.url", "expected an http(s) URL")
    else:
        raise fault(f"{path}.source.type", 'expected "base64" or "url"')
    return {"type": "image_url", "image_url": {"url": url}}


def document_parts(block: dict[str, Any], path: str) -> list[dict[str, Any]]:
    source, kind = source_of(block, path)
    if kind == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise fault(f"{path}.source.data", "expected a string")
        return [{"type": "text", "text": data}]
    if kind == "base64":
        title = block.get("title")
        return [
            {
                "type": "file",
                "file": {
                    "filename": title if isinstance(title, str) and title else "document.pdf",
                    "file_data": base64_url(source, path, "application/"),
                },
            }
        ]
    if kind == "content":
        content = source.get("content")
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise fault(f"{path}.source.content", "expected a string or an array of blocks")
        return nested_parts(content, f"{path}.source.content")
    raise fault(f"{path}.source.type", 'expected "base64", "text" or "content"')


def tool_result(block: dict[str, Any], path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tool message, and the images of the result (a tool message holds text only; they
    follow in the user message)."""
    tool_id = block.get("tool_use_id")
    if not isinstance(tool_id, str) or not tool_id:
        raise fault(f"{path}.tool_use_id", "Field required")
    content = block.get("content", "")
    if isinstance(content, str):
        return {"role": "tool", "tool_call_id": tool_id, "content": content}, []
    if not isinstance(content, list):
        raise fault(f"{path}.content", "expected a string or an array of blocks")
    parts = nested_parts(content, f"{path}.content")
    text = "\n".join(p["text"] for p in parts if p["type"] == "text")
    images = [p for p in parts if p["type"] != "text"]
    return {"role": "tool", "tool_call_id": tool_id, "content": text}, images


def tool_call(block: dict[str, Any], path: str) -> dict[str, Any]:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise fault(f"{path}.id", "Field required")
    if not isinstance(name, str) or not name:
        raise fault(f"{path}.name", "Field required")
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise fault(f"{path}.input", f"expected an object, got {type_name(arguments)}")
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }


def stop_sequences(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise fault("stop_sequences", "expected an array of strings")
    return value


def function_tools(value: Any) -> list[dict[str, Any]]:
    """Custom tools as functions. Typed tools (web_search_…, bash_…) are run by Anthropic
    itself: only an Anthropic upstream can serve them, and it gets them in the client's body."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fault("tools", f"expected an array, got {type_name(value)}")
    check_length(value, "tools", MAX_TOOLS, "tools")
    tools = []
    for index, tool in enumerate(value):
        path = f"tools.{index}"
        if not isinstance(tool, dict):
            raise fault(path, f"expected an object, got {type_name(tool)}")
        if tool.get("type") not in (None, "custom"):
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise fault(f"{path}.name", "Field required")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise fault(f"{path}.input_schema", "Field required (a JSON Schema object)")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def tool_choice(value: Any) -> dict[str, Any]:
    """auto/any/tool/none → tool_choice auto/required/{function}/none, and
    disable_parallel_tool_use → parallel_tool_calls: false."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fault("tool_choice", f"expected an object, got {type_name(value)}")
    kind = value.get("type")
    if kind == "tool":
        name = value.get("name")
        if not isinstance(name, str) or not name:
            raise fault("tool_choice.name", "Field required")
        choice: Any = {"type": "function", "function": {"name": name}}
    elif kind in TOOL_CHOICES:
        choice = TOOL_CHOICES[kind]
    else:
        raise fault("tool_choice.type", "expected 'auto', 'any', 'tool' or 'none'")
    canonical: dict[str, Any] = {"tool_choice": choice}
    if value.get("disable_parallel_tool_use") is True:
        canonical["parallel_tool_calls"] = False
    return canonical


def reasoning_effort(thinking: Any, output_config: Any) -> str | None:
    """Extended thinking as OpenAI's reasoning_effort: the budget picks low/medium/high."""
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise fault("thinking", f"expected an object, got {type_name(thinking)}")
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise fault("thinking.budget_tokens", "expected a positive integer")
        return "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    if kind in ("adaptive", "between_tools"):
        effort = output_config.get("effort") if isinstance(output_config, dict) else None
        return EFFORTS.get(effort, "medium") if isinstance(effort, str) else "medium"
    raise fault("thinking.type", "expected 'enabled', 'disabled' or 'adaptive'")


def output_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """Structured outputs: `output_config.format` (or the earlier beta's `output_format`), a
    `json_schema` format, as the canonical `response_format`."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise fault("output_config", f"expected an object, got {type_name(config)}")
    value, path = (config or {}).get("format"), "output_config.format"
    if value is None:
        value, path = body.get("output_format"), "output_format"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fault(path, f"expected an object, got {type_name(value)}")
    if value.get("type") != "json_schema":
        raise fault(f"{path}.type", "Input should be 'json_schema'")
    schema = value.get("schema")
    if not isinstance(schema, dict):
        raise fault(f"{path}.schema", "Field required (a JSON Schema object)")
    return {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


def metadata_user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise fault("metadata", f"expected an object, got {type_name(metadata)}")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise fault("metadata.user_id", f"expected a string, got {type_name(user)}")
    return user or None


# --- answers ------------------------------------------------------------------------------------


def error_body(error: ApiError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(error.status), "message": error.message}}


def message_of(result: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic message for a canonical result (the native one when there is one)."""
    native = result.get(NATIVE)
    if isinstance(native, dict):
        message = {**native, "model": result.get("model")}
        message.setdefault("usage", anthropic_usage(result.get("usage")))
        return message
    choice = (result.get("choices") or [{}])[0]
    stop_reason, stop_sequence = stop_reason_of(choice)
    return {
        "id": message_id(result.get("id")),
        "type": "message",
        "role": "assistant",
        "model": result.get("model"),
        "content": content_blocks(choice.get("message") or {}),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": anthropic_usage(result.get("usage")),
    }


def content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    """thinking (the upstream's reasoning), text, then a tool_use block per tool call."""
    blocks: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if isinstance(text, str) and text:
        blocks.append({"type": "text", "text": text})
    blocks += [tool_use_block(call) for call in message.get("tool_calls") or ()]
    return blocks or [{"type": "text", "text": ""}]


class StreamRenderer:
    """Canonical chunks → Anthropic's event sequence: message_start, then per block
    content_block_start (a ping after the first), its deltas and content_block_stop, then
    message_delta (stop reason, usage) and message_stop. A block opens when its kind of delta
    (thinking, text, one tool call) first arrives and closes when another kind starts.
    Chunks that carry an Anthropic upstream's own events are passed on as they are."""

    def __init__(self, input_estimate: int) -> None:
        self.input_estimate = input_estimate
        self.index = -1
        self.open: tuple[Any, ...] | None = None
        self.finish: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None

    def events(self, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        native: bool | None = None
        for chunk in chunks:
            if native is None:
                native = NATIVE_EVENTS in chunk
                if not native:
                    yield self.message_start(chunk)
            if native:
                yield from native_events(chunk)
            else:
                yield from self.translate(chunk)
        if native:
            return
        if native is None:
            yield self.message_start({})
        yield from self.close()
        stop_reason, stop_sequence = stop_reason_of(self.finish)
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
                "usage": anthropic_usage(self.usage),
            },
        )
        yield event("message_stop", {"type": "message_stop"})

    def message_start(self, chunk: dict[str, Any]) -> bytes:
        message = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**anthropic_usage(None), "input_tokens": self.input_estimate},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def translate(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                thinking = {"type": "thinking", "thinking": "", "signature": ""}
                yield from self.switch(("thinking",), thinking)
                yield self.delta({"type": "thinking_delta", "thinking": reasoning})
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield from self.switch(("text",), {"type": "text", "text": ""})
                yield self.delta({"type": "text_delta", "text": content})
            for call in delta.get("tool_calls") or ():
                yield from self.tool_delta(call)
            if choice.get("finish_reason"):
                self.finish = choice

    def tool_delta(self, call: dict[str, Any]) -> Iterator[bytes]:
        function = call.get("function") or {}
        key = ("tool_use", call.get("index", 0))
        if self.open != key:
            block = {
                "type": "tool_use",
                "id": call.get("id") or tool_use_id(),
                "name": function.get("name") or "",
                "input": {},
            }
            yield from self.switch(key, block)
        if function.get("arguments"):
            yield self.delta({"type": "input_json_delta", "partial_json": function["arguments"]})

    def switch(self, key: tuple[Any, ...], block: dict[str, Any]) -> Iterator[bytes]:
        if self.open == key:
            return
        yield from self.close()
        self.index += 1
        self.open = key
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": self.index, "content_block": block},
        )
        if self.index == 0:
            yield event("ping", {"type": "ping"})

    def close(self) -> Iterator[bytes]:
        if self.open is not None:
            self.open = None
            yield event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def delta(self, delta: dict[str, Any]) -> bytes:
        return event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self.index, "delta": delta},
        )


def native_events(chunk: dict[str, Any]) -> Iterator[bytes]:
    """An Anthropic upstream's events, its message_start naming the model the client asked for."""
    for native in chunk.get(NATIVE_EVENTS) or ():
        if native.get("type") == "message_start":
            message = {**(native.get("message") or {}), "model": chunk.get("model")}
            native = {**native, "message": message}
        yield event(str(native.get("type")), native)


class AnthropicDialect:
    name = "anthropic"
    stream_content_type = "text/event-stream; charset=utf-8"

    def error_response(self, error: ApiError) -> HttpResponse:
        response = JsonResponse(error_body(error), status=error.status)
        for name, value in error.headers.items():
            response[name] = value
        return response

    def render(self, call: Call, result: dict[str, Any]) -> HttpResponse:
        return JsonResponse(message_of(result), json_dumps_params={"ensure_ascii": False})

    def render_stream(self, call: Call, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        # message_start announces input tokens before the upstream has counted them
        return StreamRenderer(call.prompt_estimate).events(chunks)

    def stream_error(self, error: ApiError) -> bytes:
        return event("error", error_body(error))


def default_model() -> str | None:
    """Seed 000: an Anthropic model name the catalog does not know is served by this model."""
    return catalog_settings().get("default_model") or None
