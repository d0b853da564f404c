"""Token estimates for when an upstream reports no usage (then marked `estimated`).

A word-and-punctuation count: close to BPE tokenizers on English text, cheap, deterministic.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]")
PER_MESSAGE = 3
PER_IMAGE = 85


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text)) if text else 0


def content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return count_tokens(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                total += count_tokens(part.get("text") or "")
            elif part.get("type") == "image_url":
                total += PER_IMAGE
        return total
    return 0


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        total += PER_MESSAGE + content_tokens(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            total += count_tokens(function.get("name", "")) + count_tokens(
                function.get("arguments", "")
            )
    return total


def tools_tokens(tools: Any) -> int:
    """The tools offered, counted as their compact JSON (name, description, parameters)."""
    if not isinstance(tools, list) or not tools:
        return 0
    functions = [
        {
            "name": function.get("name") or "",
            "description": function.get("description") or "",
            "parameters": function.get("parameters") or {},
        }
        for tool in tools
        if isinstance(tool, dict) and isinstance(function := tool.get("function"), dict)
    ]
    return count_tokens(json.dumps(functions, separators=(",", ":"), sort_keys=True))
