"""Text PostgreSQL can store: no NUL character (text and jsonb refuse it) and no lone UTF-16
surrogate (it cannot be encoded as UTF-8), in JSON nested no deeper than a stated depth.

JSON allows all three ("\\u0000", "\\ud800", a schema 150 objects deep), Python's json module
parses them, and the database then fails the write with a 500. Endpoints that store what a
client sends check it first and answer 400 naming the field."""

from __future__ import annotations

from typing import Any

NUL = "must not contain NUL characters (\\u0000)"
SURROGATE = "must not contain lone surrogates (\\ud800-\\udfff): send valid Unicode"


def text_fault(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    return None


def json_fault(value: Any, path: str, max_depth: int) -> tuple[str, str] | None:
    """The first (path, reason) in a JSON value that cannot be stored: a string or an object
    key with NUL or a lone surrogate, or nesting deeper than `max_depth` (objects and arrays).
    Paths read like `tools[0].function.parameters.properties`."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if reason := text_fault(item):
                return where, reason
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return where, f"nested deeper than {max_depth} levels"
            if isinstance(item, list):
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, child in item.items():
                if isinstance(key, str) and (reason := text_fault(key)):
                    return where, f"a key {reason}"
                stack.append((child, f"{where}.{key}" if where else str(key), depth + 1))
    return None
