"""Ollama's requests (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`) as canonical
(OpenAI chat / embeddings) bodies. Each fault is a 400 naming its field as Ollama's JSON names it
(`messages[1].images[0]: not valid base64`, `options.temperature: expected a number`).

What Ollama's API says and how it is mapped:
- `stream` defaults to TRUE (absent means streamed, NDJSON);
- `options`: num_predict → max_tokens (0 or negative: no limit), temperature, top_p, top_k, seed,
  stop, presence/frequency penalties, repeat_penalty → repetition_penalty (vLLM's name); what
  only a local runner can use (num_ctx, num_gpu, mirostat, …) is accepted and dropped;
- `format`: "json" → response_format json_object, a JSON schema → json_schema;
- `think`: true or "low"/"medium"/"high" → reasoning_effort;
- `images` (base64, no data: prefix) → image_url parts with a data: URL;
- tool calls carry `function.arguments` as an object (a JSON string in the canonical shape);
- `keep_alive`, `template`, `raw`, `context`, `suffix`, `truncate` are accepted and ignored.
NUL characters and lone surrogates never get here (proxy.validation.parse_json_object).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ...validation import (
    MAX_MESSAGES,
    check_length,
    check_tools,
    fault,
    require_string,
    type_name,
)

ROLES = ("system", "user", "assistant", "tool")
THINK_LEVELS = ("low", "medium", "high")
MAX_IMAGES = 64
MAX_STOP_SEQUENCES = 16
# Ollama's options that a remote model has no use for: accepted, not sent on.
LOCAL_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "num_keep",
        "numa",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mmap",
        "use_mlock",
        "embedding_only",
        "repeat_last_n",
        "tfs_z",
        "typical_p",
        "min_p",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "penalize_newline",
    }
)
# option → (canonical name, kind, lowest, highest)
SAMPLING_OPTIONS: dict[str, tuple[str, str, float | None, float | None]] = {
    "temperature": ("temperature", "number", 0, 2),
    "top_p": ("top_p", "number", 0, 1),
    "top_k": ("top_k", "integer", 0, None),
    "seed": ("seed", "integer", -(2**63), 2**63 - 1),
    "presence_penalty": ("presence_penalty", "number", -2, 2),
    "frequency_penalty": ("frequency_penalty", "number", -2, 2),
    "repeat_penalty": ("repetition_penalty", "number", 0, None),
}
# Image formats by the first bytes of the decoded file.
IMAGE_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


# --- common fields ------------------------------------------------------------------------------


def wants_stream(body: dict[str, Any]) -> bool:
    """Ollama streams unless told `"stream": false`."""
    stream = body.get("stream")
    if stream is None:
        return True
    if not isinstance(stream, bool):
        raise fault("stream", f"expected a boolean, got {type_name(stream)}")
    return stream


def check_keep_alive(body: dict[str, Any]) -> None:
    value = body.get("keep_alive")
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise fault("keep_alive", f"expected a duration string or a number, got {type_name(value)}")


def _number(options: dict[str, Any], name: str, kind: str, low: Any, high: Any) -> Any:
    value = options[name]
    path = f"options.{name}"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise fault(path, f"expected an integer, got {type_name(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fault(path, f"expected a number, got {type_name(value)}")
    if low is not None and value < low:
        raise fault(path, f"must be at least {low:g}, got {value:g}")
    if high is not None and value > high:
        raise fault(path, f"must be at most {high:g}, got {value:g}")
    return value


def options_of(body: dict[str, Any]) -> dict[str, Any]:
    """`options` as canonical sampling fields."""
    options = body.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise fault("options", f"expected an object, got {type_name(options)}")
    canonical: dict[str, Any] = {}
    for name, value in options.items():
        if value is None or name in LOCAL_OPTIONS:
            continue
        if name == "num_predict":
            predict = _number(options, name, "integer", None, None)
            if predict > 0:  # 0 and negative numbers: no limit, as in Ollama
                canonical["max_tokens"] = predict
        elif name == "stop":
            canonical["stop"] = stop_of(value)
        elif name in SAMPLING_OPTIONS:
            target, kind, low, high = SAMPLING_OPTIONS[name]
            canonical[target] = _number(options, name, kind, low, high)
        # other names: options this Ollama does not know either; ignored as Ollama warns and goes on
    return canonical


def stop_of(value: Any) -> list[str]:
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise fault("options.stop", "expected an array of strings")
    check_length(stops, "options.stop", MAX_STOP_SEQUENCES, "sequences")
    return stops


def response_format(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("format")
    if fmt is None or fmt == "":
        return {}
    if fmt == "json":
        return {"response_format": {"type": "json_object"}}
    if isinstance(fmt, dict):
        schema = {"name": "response", "schema": fmt}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    raise fault("format", 'expected "json" or a JSON schema object')


def think_of(body: dict[str, Any]) -> dict[str, Any]:
    think = body.get("think")
    if think is None or think is False:
        return {}
    if think is True:
        return {"reasoning_effort": "medium"}
    if isinstance(think, str) and think in THINK_LEVELS:
        return {"reasoning_effort": think}
    raise fault("think", 'expected a boolean or "low", "medium" or "high"')


def common_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What chat and generate share: sampling options, format, think, the stream flag."""
    check_keep_alive(body)
    canonical = {**options_of(body), **response_format(body), **think_of(body)}
    if wants_stream(body):
        canonical["stream"] = True
    return canonical


# --- images -------------------------------------------------------------------------------------


def image_part(value: Any, path: str) -> dict[str, Any]:
    """A base64 image (Ollama sends no data: prefix; one is tolerated) as an image_url part."""
    if not isinstance(value, str) or not value:
        raise fault(path, f"expected a base64 string, got {type_name(value)}")
    data = value.partition(",")[2] if value.startswith("data:") else value
    data = "".join(data.split())  # line breaks, as Go's base64 decoder allows
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise fault(path, "not valid base64") from None
    if not decoded:
        raise fault(path, "is empty")
    mime = next((m for magic, m in IMAGE_MAGIC if decoded.startswith(magic)), "image/png")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def images_of(value: Any, path: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fault(path, f"expected an array of base64 strings, got {type_name(value)}")
    check_length(value, path, MAX_IMAGES, "images")
    return [image_part(image, f"{path}[{i}]") for i, image in enumerate(value)]


def user_content(text: str, images: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if not images:
        return text
    return [*([{"type": "text", "text": text}] if text else []), *images]


# --- chat ---------------------------------------------------------------------------------------


def tool_calls_of(value: Any, path: str, first_index: int) -> list[dict[str, Any]]:
    """An assistant's tool calls (arguments as an object) in the canonical shape."""
    if not isinstance(value, list):
        raise fault(path, f"expected an array, got {type_name(value)}")
    calls = []
    for index, call in enumerate(value):
        here = f"{path}[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise fault(f"{here}.function", "is required")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise fault(f"{here}.function.name", "expected a non-empty string")
        arguments = function.get("arguments", {})
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):  # some clients send OpenAI's JSON string
            try:
                arguments = json.loads(arguments or "{}")
            except ValueError:
                raise fault(f"{here}.function.arguments", "not valid JSON") from None
        if not isinstance(arguments, dict):
            raise fault(
                f"{here}.function.arguments", f"expected an object, got {type_name(arguments)}"
            )
        call_id = call.get("id")
        calls.append(
            {
                "id": call_id
                if isinstance(call_id, str) and call_id
                else f"call_{first_index + index}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
            }
        )
    return calls


def answered_call(pending: list[dict[str, Any]], tool_name: Any, call_id: Any = None) -> str:
    """The id of the tool call a tool message answers: its `tool_call_id` when it names one,
    else the earliest unanswered call of that name (Ollama's `tool_name`), else the earliest
    unanswered one."""
    match = next((c for c in pending if c["id"] == call_id), None) or next(
        (c for c in pending if c["function"]["name"] == tool_name), pending[0] if pending else None
    )
    if match is None:
        return "call_0"
    pending.remove(match)
    return match["id"]


def chat_messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise fault("messages", f"expected an array, got {type_name(value)}")
    check_length(value, "messages", MAX_MESSAGES, "messages")
    canonical: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # tool calls not answered yet
    calls_seen = 0
    for index, message in enumerate(value):
        path = f"messages[{index}]"
        if not isinstance(message, dict):
            raise fault(path, f"expected an object, got {type_name(message)}")
        role = message.get("role")
        if role not in ROLES:
            shown = json.dumps(role) if isinstance(role, str) else type_name(role)
            raise fault(f"{path}.role", f"expected one of {', '.join(ROLES)}, got {shown}")
        content = message.get("content")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise fault(f"{path}.content", f"expected a string, got {type_name(content)}")
        images = images_of(message.get("images"), f"{path}.images")
        if role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": content or None}
            if message.get("tool_calls"):
                calls = tool_calls_of(message["tool_calls"], f"{path}.tool_calls", calls_seen)
                calls_seen += len(calls)
                pending = list(calls)
                entry["tool_calls"] = calls
            elif not content:
                entry["content"] = ""
            canonical.append(entry)
        elif role == "tool":
            name = message.get("tool_name")
            if name is not None and not isinstance(name, str):
                raise fault(f"{path}.tool_name", f"expected a string, got {type_name(name)}")
            given = message.get("tool_call_id")
            if given is not None and not isinstance(given, str):
                raise fault(f"{path}.tool_call_id", f"expected a string, got {type_name(given)}")
            call_id = answered_call(pending, name, given)
            canonical.append({"role": "tool", "tool_call_id": call_id, "content": content})
        elif role == "system":
            canonical.append({"role": "system", "content": content})
        else:
            canonical.append({"role": "user", "content": user_content(content, images)})
    return canonical


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/chat as a canonical chat request. An empty `messages` is Ollama's "load the
    model" call: the caller answers it without calling an upstream."""
    model = require_string(body, "model")
    messages = body.get("messages")
    canonical: dict[str, Any] = {
        "model": model,
        "messages": [] if messages is None else chat_messages(messages),
    }
    tools = body.get("tools")
    if tools is not None:
        check_tools({"tools": tools})
        if tools:
            canonical["tools"] = [{**tool, "type": "function"} for tool in tools]
    canonical.update(common_fields(body))
    return canonical


# --- generate -----------------------------------------------------------------------------------


def optional_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fault(name, f"expected a string, got {type_name(value)}")
    return value


def generate_request(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/generate as a canonical chat request: `system`, then the prompt (and its
    images) as the user's message. No prompt and no image is the "load the model" call."""
    model = require_string(body, "model")
    prompt = optional_string(body, "prompt")
    system = optional_string(body, "system")
    for name in ("suffix", "template"):
        optional_string(body, name)
    images = images_of(body.get("images"), "images")
    messages = [{"role": "system", "content": system}] if system else []
    if prompt or images:
        messages.append({"role": "user", "content": user_content(prompt, images)})
    else:
        messages = []
    canonical: dict[str, Any] = {"model": model, "messages": messages}
    canonical.update(common_fields(body))
    return canonical


# --- embeddings ---------------------------------------------------------------------------------


def embed_request(body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/embed: `input` a string or an array of strings."""
    model = require_string(body, "model")
    value = body.get("input")
    if value is None:
        raise fault("input", "is required")
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) for v in value):
            raise fault("input", "expected a string or a non-empty array of strings")
        check_length(value, "input", 2048, "inputs")
    elif not isinstance(value, str):
        raise fault("input", f"expected a string or an array of strings, got {type_name(value)}")
    check_keep_alive(body)
    if body.get("truncate") is not None and not isinstance(body["truncate"], bool):
        raise fault("truncate", f"expected a boolean, got {type_name(body['truncate'])}")
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        raise fault("options", f"expected an object, got {type_name(options)}")
    canonical: dict[str, Any] = {"model": model, "input": value}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise fault("dimensions", "expected a positive integer")
        canonical["dimensions"] = dimensions
    return canonical


def embeddings_request(body: dict[str, Any]) -> dict[str, Any]:
    """The old POST /api/embeddings: one `prompt`, one vector."""
    model = require_string(body, "model")
    prompt = body.get("prompt")
    if prompt is None:
        raise fault("prompt", "is required")
    if not isinstance(prompt, str):
        raise fault("prompt", f"expected a string, got {type_name(prompt)}")
    check_keep_alive(body)
    return {"model": model, "input": prompt}


def model_name(body: dict[str, Any]) -> str:
    """`model` (or the older `name`) of /api/show."""
    if body.get("model") is None and body.get("name") is not None:
        return require_string(body, "name")
    return require_string(body, "model")
