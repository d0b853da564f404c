"""Training records in, chat conversations out.

Accepted record shapes, each normalised to a chat conversation:

    {"messages": [{"role": "system"?, ...}, {"role": "user", ...}, {"role": "assistant", ...}, ...]}
    {"prompt": "...", "completion": "...", "system"?: "..."}
    {"instruction": "...", "input"?: "...", "output": "...", "system"?: "..."}

A conversation is an optional system message, then user and assistant turns in alternation,
ending with an assistant turn. Every fault is reported with where it is (`line 17:` for JSONL,
`record 17:` for a JSON array), and nothing is kept unless every record is sound.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from proxy.errors import ApiError
from proxy.tokens import prompt_tokens
from proxy.validation import type_name

MAX_FAULTS_SHOWN = 50
ROLES = ("system", "user", "assistant")


class DatasetInvalid(ApiError):
    """400 invalid_dataset: `details` lists the faults with their places (the first
    MAX_FAULTS_SHOWN of `total`); nothing is stored."""

    def __init__(self, faults: list[str], total: int) -> None:
        self.headline = f"The dataset has {total} fault(s); nothing was stored."
        summary = "; ".join(faults[:3]) + ("; …" if total > 3 else "")
        more = total - len(faults)
        super().__init__(
            400,
            "invalid_dataset",
            f"{self.headline} {summary}",
            details=faults + ([f"… and {more} more"] if more else []),
        )
        self.faults = faults
        self.total = total


class DatasetTooLarge(ApiError):
    """413 dataset_too_large, raised before the records are parsed."""

    def __init__(self, message: str) -> None:
        super().__init__(413, "dataset_too_large", message)


def too_many_bytes() -> DatasetTooLarge:
    limit = settings.FINETUNE_DATASET_MAX_BYTES
    return DatasetTooLarge(f"The dataset is larger than the limit of {limit} bytes.")


def check_bytes(size: int) -> None:
    if size > settings.FINETUNE_DATASET_MAX_BYTES:
        raise too_many_bytes()


class Fault(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    def within(self, prefix: str) -> Fault:
        return Fault(f"{prefix}.{self.path}" if self.path else prefix, self.message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class ParsedDataset:
    conversations: list[list[dict[str, str]]] = field(default_factory=list)
    tokens: int = 0

    def jsonl(self) -> bytes:
        return b"".join(
            json.dumps({"messages": c}, ensure_ascii=False).encode() + b"\n"
            for c in self.conversations
        )


def _text(record: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if not required:
            return None
        raise Fault(name, "is required")
    if not isinstance(value, str):
        raise Fault(name, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise Fault(name, "must not be empty")
    return value


def _chat(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list):
        raise Fault("messages", f"expected an array, got {type_name(messages)}")
    if not messages:
        raise Fault("messages", "must not be empty")
    conversation = []
    for index, message in enumerate(messages):
        path = f"messages[{index}]"
        if not isinstance(message, dict):
            raise Fault(path, f"expected an object, got {type_name(message)}")
        role = message.get("role")
        expected = _expected_role(index, messages)
        if role not in ROLES:
            raise Fault(f"{path}.role", f"expected {json.dumps(expected)}, got {json.dumps(role)}")
        if role != expected:
            raise Fault(f"{path}.role", f"expected {json.dumps(expected)}")
        try:
            content = _text(message, "content")
        except Fault as fault:
            raise fault.within(path) from None
        conversation.append({"role": role, "content": content})
    if conversation[-1]["role"] != "assistant":
        raise Fault("messages", "the conversation must end with an assistant message")
    return conversation


def _expected_role(index: int, messages: list) -> str:
    """system may open the conversation; then user and assistant alternate."""
    opens_with_system = isinstance(messages[0], dict) and messages[0].get("role") == "system"
    if index == 0 and opens_with_system:
        return "system"
    turn = index - 1 if opens_with_system else index
    return "user" if turn % 2 == 0 else "assistant"


def _with_system(record: dict[str, Any], turns: list[dict[str, str]]) -> list[dict[str, str]]:
    system = _text(record, "system", required=False)
    return ([{"role": "system", "content": system}] if system else []) + turns


def normalise(record: Any) -> list[dict[str, str]]:
    """One record as a chat conversation, or Fault naming the field at fault."""
    if not isinstance(record, dict):
        raise Fault("", f"expected an object, got {type_name(record)}")
    if "messages" in record:
        return _chat(record["messages"])
    if "prompt" in record or "completion" in record:
        prompt, completion = _text(record, "prompt"), _text(record, "completion")
        return _with_system(
            record,
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
        )
    if "instruction" in record or "output" in record:
        instruction, output = _text(record, "instruction"), _text(record, "output")
        extra = _text(record, "input", required=False)
        user = f"{instruction}\n\n{extra}" if extra else instruction
        return _with_system(
            record, [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
        )
    raise Fault(
        "",
        'expected {"messages": [...]}, {"prompt", "completion"} or {"instruction", "output"}',
    )


def _parse(items: Iterable[tuple[str, Any]]) -> ParsedDataset:
    """`items` are (where, record) pairs; a record may be a JSONDecodeError to report."""
    parsed = ParsedDataset()
    faults: list[str] = []
    total = 0
    for where, record in items:
        try:
            if isinstance(record, Fault):
                raise record
            conversation = normalise(record)
        except Fault as fault:
            total += 1
            if len(faults) < MAX_FAULTS_SHOWN:
                faults.append(f"{where}: {fault}")
            continue
        if not faults:
            parsed.conversations.append(conversation)
            parsed.tokens += prompt_tokens(conversation)
    if total:
        raise DatasetInvalid(faults, total)
    return parsed


def check_count(count: int) -> None:
    limit = settings.FINETUNE_DATASET_MAX_RECORDS
    if count > limit:
        raise DatasetTooLarge(f"The dataset has more than {limit} records, the limit.")


def parse_records(records: Any) -> ParsedDataset:
    """A JSON array of records (`records` in the request body)."""
    if not isinstance(records, list):
        raise DatasetInvalid([f"records: expected an array, got {type_name(records)}"], 1)
    check_count(len(records))
    return _parse((f"record {i}", r) for i, r in enumerate(records, start=1))


def _lines(text: str) -> list[str]:
    """JSON Lines are split at \\n only (a \\r before it is dropped): U+2028 and friends may
    stand raw inside a JSON string, where str.splitlines would cut the record in two."""
    return [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]


def _jsonl_items(lines: list[str]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {number}", Fault("", f"not valid JSON ({exc.msg} at column {exc.colno})")
        except (ValueError, RecursionError):  # a number too long, nesting too deep
            yield f"line {number}", Fault("", "not valid JSON (too deeply nested or too large)")


def parse_jsonl(data: str | bytes) -> ParsedDataset:
    """JSON Lines: one record per line; blank lines are skipped (and still counted)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DatasetInvalid([f"the file is not UTF-8 text (byte {exc.start})"], 1) from exc
    lines = _lines(data)
    check_count(sum(1 for line in lines if line.strip()))
    return _parse(_jsonl_items(lines))
