"""Validation of OpenAI-shaped request bodies. Each fault names its field:
`messages[2].role: unknown role "robot"` (400 invalid_request_error, `param` = the field path).

Only what we understand is checked; unknown fields pass through untouched.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import ApiError

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")
MAX_STOP_SEQUENCES = 4
MAX_EMBEDDING_INPUTS = 2048
MAX_PROMPTS = 2048  # legacy completions: prompts in one call
MAX_MESSAGES = 10_000
MAX_TOOLS = 128  # OpenAI's own limit


def fault(path: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", f"{path}: {message}", param=path)


def check_length(items: list, path: str, most: int, what: str = "items") -> None:
    """An array cap: 400 naming the field, before any item is looked at."""
    if len(items) > most:
        raise fault(path, f"at most {most} {what}, got {len(items)}")


# Only JSON escapes can put a NUL (\u0000) or a lone surrogate (\ud800-\udfff) in a parsed string
# (a raw NUL is invalid JSON, a raw surrogate invalid UTF-8): bodies without one skip the walk.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (a NUL character, a lone surrogate), or None."""
    if _UNSTORABLE.search(text):
        return "must not contain NUL characters or lone surrogates"
    return None


def check_text(body: Any, root: str = "") -> None:
    """Every string of a parsed body, names included, free of NUL characters and lone surrogates
    (which PostgreSQL cannot store and no model needs): 400 naming the first field, in document
    order, that has one."""
    stack: list[tuple[Any, str]] = [(body, root)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if reason := unstorable(value):
                raise fault(path or "body", reason)
        elif isinstance(value, dict):
            for name in value:
                if reason := unstorable(name):
                    raise fault(path or "body", f"a field name {reason}")
            stack.extend(
                (item, f"{path}.{name}" if path else str(name))
                for name, item in reversed(value.items())
            )
        elif isinstance(value, list):
            stack.extend(
                (value[index], f"{path}[{index}]") for index in range(len(value) - 1, -1, -1)
            )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object whose strings PostgreSQL can store (see check_text)."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(
            400, "invalid_request_error", f"Request body is not valid JSON: {exc}"
        ) from exc
    except (ValueError, RecursionError) as exc:  # a number too long, nesting too deep
        raise ApiError(
            400,
            "invalid_request_error",
            "Request body is not valid JSON: too deeply nested or a number too large.",
        ) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request_error", "Request body must be a JSON object.")
    if _SUSPECT_ESCAPE.search(raw):
        check_text(body)
    return body


def type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def require_string(body: dict, name: str, path: str | None = None) -> str:
    path = path or name
    if name not in body or body[name] is None:
        raise fault(path, "is required")
    value = body[name]
    if not isinstance(value, str):
        raise fault(path, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise fault(path, "must not be empty")
    return value


def check_number(body: dict, name: str, low: float, high: float) -> None:
    if body.get(name) is None:
        return
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fault(name, f"expected a number, got {type_name(value)}")
    if not low <= value <= high:
        raise fault(name, f"must be between {low:g} and {high:g}, got {value:g}")


def check_integer(body: dict, name: str, low: int, high: int | None = None) -> None:
    if body.get(name) is None:
        return
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise fault(name, f"expected an integer, got {type_name(value)}")
    if value < low:
        raise fault(name, f"must be at least {low}, got {value}")
    if high is not None and value > high:
        raise fault(name, f"must be at most {high}, got {value}")


def check_boolean(body: dict, name: str, path: str | None = None) -> None:
    if body.get(name) is not None and not isinstance(body[name], bool):
        raise fault(path or name, f"expected a boolean, got {type_name(body[name])}")


def check_stop(body: dict) -> None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise fault("stop", "expected a string or an array of strings")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise fault("stop", f"at most {MAX_STOP_SEQUENCES} sequences, got {len(stop)}")


def _check_part(part: Any, path: str) -> None:
    if not isinstance(part, dict):
        raise fault(path, f"expected an object, got {type_name(part)}")
    kind = part.get("type")
    if kind not in PART_TYPES:
        raise fault(f"{path}.type", f"unknown content part type {json.dumps(kind)}")
    if kind == "text" and not isinstance(part.get("text"), str):
        raise fault(f"{path}.text", "expected a string")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str):
            raise fault(f"{path}.image_url.url", "expected a string")
        if not url.startswith(("data:", "https://", "http://")):
            raise fault(f"{path}.image_url.url", "must be a data: URL or an http(s) URL")


def _check_tool_calls(calls: Any, path: str) -> None:
    if not isinstance(calls, list):
        raise fault(path, f"expected an array, got {type_name(calls)}")
    for index, call in enumerate(calls):
        here = f"{path}[{index}]"
        if not isinstance(call, dict):
            raise fault(here, f"expected an object, got {type_name(call)}")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise fault(f"{here}.function.name", "expected a string")
        if not isinstance(function.get("arguments", ""), str):
            raise fault(f"{here}.function.arguments", "expected a JSON string")


def require_messages(messages: Any) -> list:
    """`messages`: present, an array, not empty."""
    if messages is None:
        raise fault("messages", "is required")
    if not isinstance(messages, list):
        raise fault("messages", f"expected an array, got {type_name(messages)}")
    if not messages:
        raise fault("messages", "must contain at least one message")
    check_length(messages, "messages", MAX_MESSAGES, "messages")
    return messages


def check_messages(body: dict) -> None:
    for index, message in enumerate(require_messages(body.get("messages"))):
        path = f"messages[{index}]"
        if not isinstance(message, dict):
            raise fault(path, f"expected an object, got {type_name(message)}")
        role = message.get("role")
        if role is None:
            raise fault(f"{path}.role", "is required")
        if role not in ROLES:
            raise fault(f"{path}.role", f"unknown role {json.dumps(role)}")
        content = message.get("content")
        if isinstance(content, list):
            for part_index, part in enumerate(content):
                _check_part(part, f"{path}.content[{part_index}]")
        elif content is None:
            calls = message.get("tool_calls") or message.get("function_call")
            if role != "assistant" or not calls:
                raise fault(f"{path}.content", "is required")
        elif not isinstance(content, str):
            raise fault(
                f"{path}.content", f"expected a string or an array, got {type_name(content)}"
            )
        if "tool_calls" in message and message["tool_calls"] is not None:
            _check_tool_calls(message["tool_calls"], f"{path}.tool_calls")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise fault(f"{path}.tool_call_id", "is required for a tool message")


def check_tools(body: dict) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise fault("tools", f"expected an array, got {type_name(tools)}")
        check_length(tools, "tools", MAX_TOOLS, "tools")
        for index, tool in enumerate(tools):
            path = f"tools[{index}]"
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict):
                raise fault(f"{path}.function", "is required")
            if not isinstance(function.get("name"), str) or not function["name"]:
                raise fault(f"{path}.function.name", "expected a non-empty string")
            parameters = function.get("parameters")
            if parameters is not None and not isinstance(parameters, dict):
                raise fault(f"{path}.function.parameters", "expected a JSON Schema object")
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        return
    if not isinstance(choice, dict) or not isinstance(
        (choice.get("function") or {}).get("name"), str
    ):
        raise fault(
            "tool_choice",
            'expected "none", "auto", "required" or {"type": "function", "function": {"name": …}}',
        )


def check_response_format(body: dict) -> None:
    response_format = body.get("response_format")
    if response_format is None:
        return
    if not isinstance(response_format, dict):
        raise fault("response_format", f"expected an object, got {type_name(response_format)}")
    kind = response_format.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise fault("response_format.type", 'expected "text", "json_object" or "json_schema"')
    if kind == "json_schema" and not isinstance(response_format.get("json_schema"), dict):
        raise fault("response_format.json_schema", "is required for type json_schema")


def check_sampling(body: dict) -> None:
    check_number(body, "temperature", 0, 2)
    check_number(body, "top_p", 0, 1)
    check_number(body, "presence_penalty", -2, 2)
    check_number(body, "frequency_penalty", -2, 2)
    check_integer(body, "max_tokens", 1)
    check_integer(body, "max_completion_tokens", 1)
    check_integer(body, "n", 1, 8)
    check_integer(body, "seed", -(2**63), 2**63 - 1)
    check_integer(body, "top_logprobs", 0, 20)
    check_boolean(body, "stream")
    check_boolean(body, "parallel_tool_calls")
    check_stop(body)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise fault("stream_options", f"expected an object, got {type_name(options)}")
        check_boolean(options, "include_usage", "stream_options.include_usage")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise fault("user", f"expected a string, got {type_name(body['user'])}")


def is_token_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def is_batch(value: Any) -> bool:
    """Several texts (an array of strings or of token-id arrays), not one text as token ids."""
    return isinstance(value, list) and not is_token_list(value)


def check_text_input(body: dict, name: str) -> None:
    """A string, or a non-empty array of strings, of token ids, or of token-id arrays."""
    value = body.get(name)
    if value is None:
        raise fault(name, "is required")
    valid = (
        isinstance(value, str)
        or is_token_list(value)
        or (
            isinstance(value, list)
            and bool(value)
            and (all(isinstance(v, str) for v in value) or all(is_token_list(v) for v in value))
        )
    )
    if not valid:
        raise fault(
            name, "expected a string, an array of strings, or an array of token ids (or of arrays)"
        )


def check_completion_request(body: dict) -> None:
    """Legacy completions: `logprobs` is a count (0-5) here, not a flag."""
    require_string(body, "model")
    check_text_input(body, "prompt")
    if is_batch(body["prompt"]):
        check_length(body["prompt"], "prompt", MAX_PROMPTS, "prompts")
    check_sampling(body)
    check_integer(body, "best_of", 1, 20)
    check_integer(body, "logprobs", 0, 5)


def check_embedding_request(body: dict) -> None:
    require_string(body, "model")
    check_text_input(body, "input")
    if is_batch(body["input"]):
        check_length(body["input"], "input", MAX_EMBEDDING_INPUTS, "inputs")
    check_integer(body, "dimensions", 1)


def check_chat_request(body: dict) -> None:
    """Everything a chat completion request must satisfy before it goes anywhere."""
    require_string(body, "model")
    check_messages(body)
    check_sampling(body)
    check_boolean(body, "logprobs")
    check_tools(body)
    check_response_format(body)
