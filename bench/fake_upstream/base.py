"""Shared pieces: response objects, error bodies in each API's format, ids, the model registry."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .content import Chat, Directives, Turn

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    return _encode(value).encode()


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Stream:
    """A streamed reply: pre-rendered frames (SSE events or NDJSON lines) sent one by one."""

    content_type: str
    frames: list[bytes]
    error_frame: bytes  # the in-band error for [[error_200:N]]
    garbage_frame: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.code = code
        self.param = param


@dataclass(slots=True)
class Ctx:
    """One API request as a handler sees it."""

    api: str  # openai | anthropic | ollama
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    directives: Directives
    config: dict[str, Any]
    state: Any  # server.State
    record: dict[str, Any]

    @property
    def no_usage(self) -> bool:
        return self.directives.no_usage


# --------------------------------------------------------------------------- ids

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


_TO_ALNUM = bytes(ord(_ALNUM[i % 62]) for i in range(256))


def random_id(length: int) -> str:
    return os.urandom(length).translate(_TO_ALNUM).decode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- errors

_OPENAI = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", "permission_denied", "You are not allowed to use this resource."),
    404: ("invalid_request_error", "not_found", "Not found."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", "conflict", "Conflict."),
    413: ("invalid_request_error", "request_too_large", "Request too large."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}
_ANTHROPIC = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
_OLLAMA = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    429: "too many requests, please try again later",
    500: "an error was encountered while running the model",
    502: "bad gateway",
    503: "server busy, please try again.  maximum pending requests exceeded",
    504: "timed out waiting for the model",
}


def error_payload(
    api: str,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    if api == "anthropic":
        kind, default = _ANTHROPIC.get(
            status,
            ("api_error", "Internal server error")
            if status >= 500
            else ("invalid_request_error", "Invalid request."),
        )
        return {
            "type": "error",
            "error": {"type": kind, "message": message or default},
            "request_id": "req_011" + random_id(21),
        }
    if api == "ollama":
        return {"error": message or _OLLAMA.get(status, f"error {status}")}
    kind, default_code, default = _OPENAI.get(
        status,
        ("server_error", None, "Server error.")
        if status >= 500
        else ("invalid_request_error", None, "Invalid request."),
    )
    return {
        "error": {
            "message": message or default,
            "type": kind,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }


def error_response(
    api: str,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
    retry_after: int | None = None,
    http_status: int | None = None,
) -> Response:
    payload = error_payload(api, status, message, code=code, param=param)
    headers = request_id_headers(api)
    if status == 429 or (status == 503 and retry_after is not None):
        headers.append(("Retry-After", str(retry_after if retry_after is not None else 1)))
    if api == "anthropic":
        headers.append(
            ("x-should-retry", "true" if status in (408, 409, 429) or status >= 500 else "false")
        )
    return Response(http_status or status, dumps(payload), headers=headers)


def request_id_headers(api: str) -> list[tuple[str, str]]:
    if api == "anthropic":
        return [("request-id", "req_011" + random_id(21))]
    if api == "openai":
        return [("x-request-id", "req_" + os.urandom(16).hex())]
    return []


# --------------------------------------------------------------------------- models

DEFAULT_TEMPLATE = (
    "{{- if .System }}<|system|>{{ .System }}{{ end }}"
    "{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}{{ end }}<|assistant|>"
)
CREATED_EPOCH = 1_717_171_717


def canonical(name: str) -> str:
    """Ollama's naming rule: a name without a tag means ``:latest``."""
    name = name.strip()
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


@dataclass(slots=True)
class ModelInfo:
    name: str
    kind: str = "chat"  # chat | embed
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization: str = "Q4_K_M"
    context_length: int = 131072
    embedding_length: int = 3072
    owned_by: str = "library"
    parent: str = ""
    system: str | None = None
    template: str = DEFAULT_TEMPLATE
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    license: str | None = None
    modified_at: str = "2025-01-01T00:00:00.000000Z"
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA adapter: file name → digest

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical(self.name).encode()).hexdigest()

    @property
    def size(self) -> int:
        return 1_000_000 + int(self.digest[:7], 16)

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": self.parent,
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }

    def apply(self, chat: Chat) -> None:
        """Apply a created model's system prompt, few-shot messages and parameters."""
        if self.messages:
            chat.turns[0:0] = [
                Turn(role=str(m.get("role", "user")), text=str(m.get("content", "")))
                for m in self.messages
                if isinstance(m, dict)
            ]
        if self.system and not chat.system_text():
            chat.system = self.system
        params = self.parameters
        predict = params.get("num_predict")
        if chat.max_tokens is None and isinstance(predict, int) and predict >= 0:
            chat.max_tokens = predict
        if not chat.stop and params.get("stop"):
            stop = params["stop"]
            chat.stop = [stop] if isinstance(stop, str) else [str(s) for s in stop]


BASE_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("llama3.2", family="llama", parameter_size="3.2B"),
    ModelInfo("qwen2.5:7b", family="qwen2", parameter_size="7.6B", context_length=32768),
    ModelInfo("glm-4.5-air", family="glm4moe", parameter_size="110.5B", quantization="Q4_K_M"),
    ModelInfo(
        "nomic-embed-text",
        kind="embed",
        family="nomic-bert",
        parameter_size="137M",
        quantization="F16",
        context_length=2048,
        embedding_length=768,
    ),
    ModelInfo("deepseek-reasoner", family="deepseek2", parameter_size="671B", owned_by="deepseek"),
    ModelInfo(
        "gpt-4o-mini", family="gpt", parameter_size="", owned_by="openai", context_length=128000
    ),
    ModelInfo("gpt-4o", family="gpt", parameter_size="", owned_by="openai", context_length=128000),
    ModelInfo(
        "text-embedding-3-small",
        kind="embed",
        family="openai-embedding",
        parameter_size="",
        owned_by="openai",
        context_length=8191,
        embedding_length=1536,
    ),
    ModelInfo(
        "claude-sonnet-4-6",
        family="claude",
        parameter_size="",
        owned_by="anthropic",
        context_length=200000,
    ),
    ModelInfo(
        "claude-haiku-4-5",
        family="claude",
        parameter_size="",
        owned_by="anthropic",
        context_length=200000,
    ),
)


def created_stamp() -> int:
    return int(time.time())
