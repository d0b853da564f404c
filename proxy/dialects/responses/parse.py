"""A Responses API request (`POST /v1/responses`) checked and translated to the canonical (OpenAI
chat) shape. Faults name the field as OpenAI does (`input[2].role: …`), in OpenAI's error shape.

Input is a string or a list of items: messages (roles user, assistant, system, developer; parts
input_text, input_image, input_file, output_text, refusal), `function_call` and
`function_call_output`, `custom_tool_call` and its output (freeform tools, bridged as a function
taking one `input` string), and items of tools the gateway does not run (reasoning, web search,
shell calls, …), which are accepted and left out of the canonical conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...validation import (
    MAX_MESSAGES,
    MAX_TOOLS,
    check_boolean,
    check_integer,
    check_length,
    check_number,
    fault,
    require_string,
    type_name,
)

NATIVE = "_responses"  # the client's own body, for an upstream that serves /v1/responses
ROLES = ("user", "assistant", "system", "developer")
# Items of tools the gateway does not run: accepted (Codex and the Agents SDK replay them), not
# part of the conversation a chat model sees.
SKIPPED_ITEMS = frozenset(
    {
        "reasoning",
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "tool_search_call",
        "tool_search_output",
        "compaction",
    }
)
# Tools the upstream runs itself at OpenAI: offered to no chat model.
HOSTED_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "file_search",
        "computer_use_preview",
        "computer",
        "code_interpreter",
        "image_generation",
        "local_shell",
        "shell",
        "apply_patch",
        "mcp",
        "namespace",
        "tool_search",
    }
)
EFFORTS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
MAX_METADATA_KEYS = 16


@dataclass
class ResponsesRequest:
    """What the answer echoes of the request, and what was derived from it."""

    body: dict[str, Any]
    canonical: dict[str, Any]
    custom_tools: frozenset[str] = frozenset()
    history: list[dict[str, Any]] = field(default_factory=list)  # previous_response_id's items

    @property
    def store(self) -> bool:
        return self.body.get("store") is not False

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include(self) -> list[str]:
        return list(self.body.get("include") or [])

    def input_items(self) -> list[dict[str, Any]]:
        """The conversation so far as input items: the previous response's, then this input."""
        return [*self.history, *as_items(self.body.get("input"))]


def as_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value or [])


# --- the request --------------------------------------------------------------------------------


def parse(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> ResponsesRequest:
    """Check the body and build the canonical chat request; `history` is the stored conversation
    of `previous_response_id` (input items), already loaded for the caller's workspace."""
    check_fields(body)  # NUL and lone surrogates: refused by parse_json_object already
    custom = custom_tool_names(body.get("tools"))
    messages = instruction_messages(body.get("instructions"))
    messages += item_messages(history or [], "previous_response_id", custom)
    messages += item_messages(input_list(body.get("input")), "input", custom)
    # A chain of previous_response_id grows the conversation past what one body may send.
    check_length(messages, "previous_response_id", MAX_MESSAGES, "items in the conversation")
    if not any(m["role"] != "system" for m in messages):
        raise fault("input", "must contain at least one item")
    canonical: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("stream") is True:
        canonical["stream"] = True
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            canonical[name] = body[name]
    if body.get("max_output_tokens") is not None:
        canonical["max_tokens"] = body["max_output_tokens"]
    if tools := chat_tools(body.get("tools")):
        canonical["tools"] = tools
        if (choice := chat_tool_choice(body.get("tool_choice"))) is not None:
            canonical["tool_choice"] = choice
        if body.get("parallel_tool_calls") is not None:  # OpenAI refuses it without tools
            canonical["parallel_tool_calls"] = body["parallel_tool_calls"]
    if (response_format := chat_response_format(body.get("text"))) is not None:
        canonical["response_format"] = response_format
    if effort := reasoning_effort(body.get("reasoning")):
        canonical["reasoning_effort"] = effort
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        canonical["user"] = user
    request = ResponsesRequest(body, canonical, custom, list(history or []))
    canonical[NATIVE] = native_request(request)
    return request


def native_request(request: ResponsesRequest) -> dict[str, Any]:
    """The body for an upstream that serves /v1/responses itself: the client's, with the
    previous response's items in the input (the upstream never saw it) and nothing stored
    there (the gateway keeps what it must)."""
    native = {k: v for k, v in request.body.items() if k not in NOT_SENT_NATIVELY}
    if request.history:
        native["input"] = request.input_items()
    if isinstance(request.body.get("tools"), list):  # hosted tools would run on the operator's
        native["tools"] = [t for t in request.body["tools"] if not hosted(t)]  # account, unbilled
    native["store"] = False
    return native


# previous_response_id: the gateway expands it; service_tier: a priority tier is billed to the
# operator at a higher rate than the gateway's prices.
NOT_SENT_NATIVELY = frozenset({"previous_response_id", "service_tier"})


def hosted(tool: Any) -> bool:
    kind = tool.get("type") if isinstance(tool, dict) else None
    return isinstance(kind, str) and (kind in HOSTED_TOOLS or kind.startswith("web_search"))


def check_fields(body: dict[str, Any]) -> None:
    require_string(body, "model")
    check_number(body, "temperature", 0, 2)
    check_number(body, "top_p", 0, 1)
    check_integer(body, "max_output_tokens", 1)
    check_integer(body, "max_tool_calls", 1)
    check_integer(body, "top_logprobs", 0, 20)
    for name in ("stream", "store", "parallel_tool_calls", "background"):
        check_boolean(body, name)
    for name in (
        "instructions",
        "user",
        "previous_response_id",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "prompt_cache_retention",
    ):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise fault(name, f"expected a string, got {type_name(body[name])}")
    if body.get("background") is True:
        raise fault("background", "background responses are not supported; omit it or send false")
    if body.get("conversation") is not None:
        raise fault(
            "conversation", "conversations are not supported; use previous_response_id instead"
        )
    if body.get("prompt") is not None:
        raise fault("prompt", "stored prompt templates are not supported; send input instead")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise fault("truncation", 'expected "auto" or "disabled"')
    check_metadata(body.get("metadata"))
    include = body.get("include")
    if include is not None and (
        not isinstance(include, list) or not all(isinstance(i, str) for i in include)
    ):
        raise fault("include", "expected an array of strings")
    for name in ("stream_options", "reasoning", "text"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise fault(name, f"expected an object, got {type_name(body[name])}")


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise fault("metadata", f"expected an object, got {type_name(metadata)}")
    if len(metadata) > MAX_METADATA_KEYS:
        raise fault("metadata", f"at most {MAX_METADATA_KEYS} keys, got {len(metadata)}")
    for key, value in metadata.items():
        if len(key) > 64:
            raise fault(f"metadata.{key[:64]}", "keys are at most 64 characters")
        if not isinstance(value, str) or len(value) > 512:
            raise fault(f"metadata.{key}", "expected a string of at most 512 characters")


def input_list(value: Any) -> list[Any]:
    if value is None:
        raise fault("input", "is required")
    if isinstance(value, str):
        if not value:
            raise fault("input", "must not be empty")
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise fault(
            "input", f"expected a string or an array of input items, got {type_name(value)}"
        )
    check_length(value, "input", MAX_MESSAGES, "items")
    return value


def instruction_messages(instructions: Any) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []


# --- input items --------------------------------------------------------------------------------


def item_messages(items: list[Any], path: str, custom: frozenset[str]) -> list[dict[str, Any]]:
    """Input items as canonical chat messages; consecutive calls join one assistant message."""
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        here = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise fault(here, f"expected an object, got {type_name(item)}")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            messages.append(message_of(item, here))
        elif kind in ("function_call", "custom_tool_call"):
            call = tool_call_of(item, here, kind)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append(tool_message_of(item, here))
        elif kind == "item_reference":
            raise fault(
                f"{here}.type", "item_reference is not supported; send the items themselves"
            )
        elif isinstance(kind, str) and kind in SKIPPED_ITEMS:
            continue
        elif kind is None:
            raise fault(f"{here}.type", "is required")
        else:
            raise fault(f"{here}.type", f"unknown input item type {json.dumps(kind)}")
    return messages


def message_of(item: dict[str, Any], path: str) -> dict[str, Any]:
    role = item.get("role")
    if role is None:
        raise fault(f"{path}.role", "is required")
    if role not in ROLES:
        raise fault(
            f"{path}.role",
            f"unknown role {json.dumps(role)}; expected one of {', '.join(ROLES)}",
        )
    content = item.get("content")
    chat_role = "system" if role == "developer" else role
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    if not isinstance(content, list):
        raise fault(f"{path}.content", f"expected a string or an array, got {type_name(content)}")
    parts = [part_of(part, f"{path}.content[{i}]", role) for i, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        return {"role": chat_role, "content": "".join(part["text"] for part in parts)}
    if chat_role != "user":
        raise fault(f"{path}.content", f"only user messages may carry images or files ({role})")
    return {"role": chat_role, "content": parts}


def part_of(part: Any, path: str, role: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise fault(path, f"expected an object, got {type_name(part)}")
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
        if not isinstance(part.get("text"), str):
            raise fault(f"{path}.text", f"expected a string, got {type_name(part.get('text'))}")
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        if not isinstance(part.get("refusal"), str):
            raise fault(f"{path}.refusal", "expected a string")
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        url = part.get("image_url")
        if url is None and part.get("file_id") is not None:
            raise fault(f"{path}.file_id", "file ids are not supported; send image_url")
        if not isinstance(url, str) or not url.startswith(("data:", "https://", "http://")):
            raise fault(f"{path}.image_url", "expected a data: URL or an http(s) URL")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not isinstance(part.get("file_data"), str):
            raise fault(f"{path}.file_data", "expected a data: URL (file ids are not supported)")
        file: dict[str, Any] = {"file_data": part["file_data"]}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind is None:
        raise fault(f"{path}.type", "is required")
    raise fault(f"{path}.type", f"unknown content part type {json.dumps(kind)}")


def tool_call_of(item: dict[str, Any], path: str, kind: str) -> dict[str, Any]:
    call_id = require_string(item, "call_id", f"{path}.call_id")
    name = require_string(item, "name", f"{path}.name")
    if kind == "custom_tool_call":
        text = item.get("input")
        if not isinstance(text, str):
            raise fault(f"{path}.input", f"expected a string, got {type_name(text)}")
        arguments = json.dumps({"input": text}, ensure_ascii=False)
    else:
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            raise fault(f"{path}.arguments", f"expected a JSON string, got {type_name(arguments)}")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_message_of(item: dict[str, Any], path: str) -> dict[str, Any]:
    call_id = require_string(item, "call_id", f"{path}.call_id")
    output = item.get("output")
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            converted = part_of(part, f"{path}.output[{index}]", "tool")
            texts.append(converted["text"] if converted["type"] == "text" else "[image]")
        output = "".join(texts)
    if not isinstance(output, str):
        raise fault(f"{path}.output", f"expected a string or an array, got {type_name(output)}")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


# --- tools, formats, reasoning ------------------------------------------------------------------


def tool_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fault("tools", f"expected an array, got {type_name(value)}")
    check_length(value, "tools", MAX_TOOLS, "tools")
    return value


def custom_tool_names(value: Any) -> frozenset[str]:
    return frozenset(
        tool["name"]
        for tool in tool_list(value)
        if isinstance(tool, dict)
        and tool.get("type") == "custom"
        and isinstance(tool.get("name"), str)
    )


def chat_tools(value: Any) -> list[dict[str, Any]]:
    """Function tools (Responses' flat shape) and freeform tools as canonical function tools;
    hosted tools (web search, shell, …) are left out: no chat model runs them."""
    tools = []
    for index, tool in enumerate(tool_list(value)):
        path = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise fault(path, f"expected an object, got {type_name(tool)}")
        kind = tool.get("type")
        if kind in ("function", "custom"):
            name = require_string(tool, "name", f"{path}.name")
            description = tool.get("description")
            if description is not None and not isinstance(description, str):
                raise fault(f"{path}.description", "expected a string")
            function: dict[str, Any] = {"name": name}
            if description:
                function["description"] = description
            if kind == "custom":
                function["parameters"] = {
                    "type": "object",
                    "properties": {"input": {"type": "string"}},
                    "required": ["input"],
                }
            else:
                parameters = tool.get("parameters")
                if parameters is not None and not isinstance(parameters, dict):
                    raise fault(f"{path}.parameters", "expected a JSON Schema object")
                function["parameters"] = parameters or {"type": "object", "properties": {}}
                if isinstance(tool.get("strict"), bool):
                    function["strict"] = tool["strict"]
            tools.append({"type": "function", "function": function})
        elif hosted(tool):
            continue
        elif kind is None:
            raise fault(f"{path}.type", "is required")
        else:
            raise fault(f"{path}.type", f"unknown tool type {json.dumps(kind)}")
    return tools


def chat_tool_choice(choice: Any) -> Any:
    if choice is None:
        return None
    if choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            name = require_string(choice, "name", "tool_choice.name")
            return {"type": "function", "function": {"name": name}}
        if kind == "allowed_tools":
            return "required" if choice.get("mode") == "required" else "auto"
        if isinstance(kind, str):
            return "auto"  # a hosted tool: the model may answer by itself
    raise fault(
        "tool_choice",
        'expected "none", "auto", "required" or {"type": "function", "name": …}',
    )


def chat_response_format(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, dict) or text.get("format") is None:
        return None
    fmt = text["format"]
    if not isinstance(fmt, dict):
        raise fault("text.format", f"expected an object, got {type_name(fmt)}")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        name = require_string(fmt, "name", "text.format.name")
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise fault("text.format.schema", "expected a JSON Schema object")
        spec: dict[str, Any] = {"name": name, "schema": schema}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                spec[key] = fmt[key]
        return {"type": "json_schema", "json_schema": spec}
    raise fault("text.format.type", 'expected "text", "json_object" or "json_schema"')


def reasoning_effort(reasoning: Any) -> str | None:
    if not isinstance(reasoning, dict):
        return None
    effort = reasoning.get("effort")
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in EFFORTS:
        raise fault(
            "reasoning.effort", 'expected "none", "minimal", "low", "medium", "high" or "xhigh"'
        )
    return EFFORTS[effort]
