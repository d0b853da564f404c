"""Ollama's answers: canonical results and chunks as Ollama's JSON and NDJSON lines (fields and
their order as Ollama writes them), errors as `{"error": "..."}`, and the model descriptions of
/api/tags and /api/show."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.http import HttpResponse, JsonResponse

from billing.metering import Call

from ...errors import ApiError
from ...registry import ModelInfo
from . import wire

PARSERS = {
    "chat": wire.chat_request,
    "generate": wire.generate_request,
    "embed": wire.embed_request,
    "embeddings": wire.embeddings_request,
}
NDJSON = "application/x-ndjson"
VERSION = "0.12.6"  # the Ollama API version these answers follow
COMPACT = {"ensure_ascii": False, "separators": (",", ":")}
DONE_REASONS = {"length": "length"}  # anything else (stop, tool_calls, …) is Ollama's "stop"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def done_reason(finish_reason: Any) -> str:
    return DONE_REASONS.get(finish_reason, "stop")


def text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def arguments_object(arguments: Any) -> dict[str, Any]:
    """A canonical tool call's JSON string as the object Ollama sends."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def tool_call(call: dict[str, Any], index: int) -> dict[str, Any]:
    function = call.get("function") or {}
    entry: dict[str, Any] = {
        "function": {
            "index": index,
            "name": function.get("name") or "",
            "arguments": arguments_object(function.get("arguments")),
        }
    }
    if call.get("id"):
        entry = {"id": call["id"], **entry}
    return entry


def timings(call: Call, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """Ollama's counts and durations (nanoseconds): the prompt's time is until the first token."""
    total = int(call.elapsed_ms() * 1_000_000)
    first = min(total, int((call.ttft_ms if call.ttft_ms is not None else call.elapsed_ms()) * 1e6))
    return {
        "total_duration": total,
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": first,
        "eval_count": completion_tokens,
        "eval_duration": total - first,
    }


def error_body(error: ApiError, model: str = "") -> dict[str, str]:
    if error.code == "model_not_found" and model:
        return {"error": f'model "{model}" not found, try pulling it first'}
    return {"error": error.message}


class OllamaDialect:
    """`mode`: chat (message), generate (response), embed (embeddings) or embeddings (the old
    one-vector answer). `model` is the name the client asked for, for Ollama's 404 wording."""

    name = "ollama"
    stream_content_type = NDJSON

    def __init__(self, mode: str = "chat", model: str = "") -> None:
        self.mode = mode
        self.model = model

    def parse(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request body in the canonical shape (a 400 naming the field when it is wrong)."""
        return PARSERS[self.mode](body)

    def error_response(self, error: ApiError) -> HttpResponse:
        response = JsonResponse(error_body(error, self.model), status=error.status)
        for name, value in error.headers.items():
            response[name] = value
        return response

    def stream_error(self, error: ApiError) -> bytes:
        return line(error_body(error, self.model))

    # --- whole answers

    def render(self, call: Call, result: dict[str, Any]) -> HttpResponse:
        if self.mode == "embed":
            answer = self.embed_answer(call, result)
        elif self.mode == "embeddings":
            answer = {"embedding": vectors(result)[0] if vectors(result) else []}
        else:
            answer = self.chat_answer(call, result)
        return JsonResponse(answer, json_dumps_params=COMPACT)

    def chat_answer(self, call: Call, result: dict[str, Any]) -> dict[str, Any]:
        choice = (result.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        answer: dict[str, Any] = {"model": result.get("model"), "created_at": now_iso()}
        text = text_of(message.get("content"))
        thinking = message.get("reasoning_content") or message.get("reasoning")
        if self.mode == "generate":
            answer["response"] = text
            if isinstance(thinking, str) and thinking:
                answer["thinking"] = thinking
            answer.update(done=True, done_reason=done_reason(choice.get("finish_reason")))
        else:
            said: dict[str, Any] = {"role": "assistant", "content": text}
            if isinstance(thinking, str) and thinking:
                said["thinking"] = thinking
            if message.get("tool_calls"):
                said["tool_calls"] = [tool_call(c, i) for i, c in enumerate(message["tool_calls"])]
            answer["message"] = said
            answer.update(done_reason=done_reason(choice.get("finish_reason")), done=True)
        usage = call.usage
        return {**answer, **timings(call, usage.prompt_tokens, usage.completion_tokens)}

    def embed_answer(self, call: Call, result: dict[str, Any]) -> dict[str, Any]:
        total = int(call.elapsed_ms() * 1_000_000)
        return {
            "model": result.get("model"),
            "embeddings": vectors(result),
            "total_duration": total,
            "load_duration": 0,
            "prompt_eval_count": call.usage.prompt_tokens,
        }

    # --- streams

    def render_stream(self, call: Call, chunks: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        """One line per piece of text or thinking, the tool calls whole in one line (Ollama never
        splits their arguments), then the `done` line with the counts and durations."""
        calls: dict[int, dict[str, Any]] = {}
        finish: Any = None
        usage: dict[str, Any] = {}
        model: Any = call.requested_model
        for chunk in chunks:
            model = chunk.get("model") or model
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                thinking = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(thinking, str) and thinking:
                    yield self.piece(model, "", thinking)
                content = delta.get("content")
                if isinstance(content, str) and content:
                    yield self.piece(model, content)
                for part in delta.get("tool_calls") or ():
                    gather(calls, part)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if calls and self.mode == "chat":
            said = {
                "role": "assistant",
                "content": "",
                "tool_calls": [tool_call(calls[i], n) for n, i in enumerate(sorted(calls))],
            }
            yield line({"model": model, "created_at": now_iso(), "message": said, "done": False})
        yield line(self.final(call, model, finish, usage))

    def piece(self, model: Any, content: str, thinking: str = "") -> bytes:
        if self.mode == "generate":
            payload: dict[str, Any] = {"model": model, "created_at": now_iso(), "response": content}
            if thinking:
                payload["thinking"] = thinking
        else:
            said = {"role": "assistant", "content": content}
            if thinking:
                said["thinking"] = thinking
            payload = {"model": model, "created_at": now_iso(), "message": said}
        return line({**payload, "done": False})

    def final(self, call: Call, model: Any, finish: Any, usage: dict[str, Any]) -> dict[str, Any]:
        head: dict[str, Any] = {"model": model, "created_at": now_iso()}
        if self.mode == "generate":
            head.update(response="", done=True, done_reason=done_reason(finish))
        else:
            head.update(
                message={"role": "assistant", "content": ""},
                done_reason=done_reason(finish),
                done=True,
            )
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        return {**head, **timings(call, prompt, completion)}


def gather(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """A streamed tool call's pieces, joined by index."""
    index = part.get("index", 0)
    function = part.get("function") or {}
    entry = calls.setdefault(index, {"id": "", "function": {"name": "", "arguments": ""}})
    if part.get("id"):
        entry["id"] = part["id"]
    if function.get("name"):
        entry["function"]["name"] += function["name"]
    if isinstance(function.get("arguments"), str):
        entry["function"]["arguments"] += function["arguments"]


def vectors(result: dict[str, Any]) -> list[Any]:
    data = [d for d in result.get("data") or () if isinstance(d, dict)]
    return [d.get("embedding") for d in sorted(data, key=lambda d: d.get("index", 0))]


def load_answer(model: str, mode: str) -> dict[str, Any]:
    """Ollama's answer to a chat without messages or a generate without a prompt: the model is
    "loaded" (nothing to load here), no upstream call."""
    answer: dict[str, Any] = {"model": model, "created_at": now_iso()}
    if mode == "generate":
        answer.update(response="", done=True, done_reason="load")
    else:
        answer.update(message={"role": "assistant", "content": ""}, done_reason="load", done=True)
    return answer


# --- models -------------------------------------------------------------------------------------


def family_of(model: ModelInfo) -> str:
    base = model.name.rsplit("/", 1)[-1]
    found = re.match(r"[A-Za-z]+", base)
    return found.group(0).lower() if found else "unknown"


def parameter_size(model: ModelInfo) -> str:
    found = re.search(r"(?:^|[:\-_])(\d+(?:\.\d+)?)([bBmM])(?![A-Za-z])", model.name)
    return f"{found.group(1)}{found.group(2).upper()}" if found else ""


def digest_of(model: ModelInfo) -> str:
    return hashlib.sha256(f"{model.name}:{model.id}:{model.created}".encode()).hexdigest()


def modified_at(model: ModelInfo) -> str:
    return datetime.fromtimestamp(model.created, UTC).isoformat().replace("+00:00", "Z")


def details(model: ModelInfo) -> dict[str, Any]:
    family = family_of(model)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": parameter_size(model),
        "quantization_level": "",
    }


def tag_entry(model: ModelInfo) -> dict[str, Any]:
    """One model of /api/tags. Sizes are not known to the gateway: 0."""
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": modified_at(model),
        "size": 0,
        "digest": digest_of(model),
        "details": details(model),
    }


def capabilities(model: ModelInfo) -> list[str]:
    if model.kind == "embedding":
        return ["embedding"]
    if not model.capabilities:  # the catalog does not say: what a chat model usually has
        return ["completion", "tools"]
    found = ["completion"]
    for catalog_name, ollama_name in (
        ("tools", "tools"),
        ("vision", "vision"),
        ("reasoning", "thinking"),
    ):
        if catalog_name in model.capabilities:
            found.append(ollama_name)
    return found


TEMPLATE = "{{ .Prompt }}"


def show_answer(model: ModelInfo) -> dict[str, Any]:
    family = family_of(model)
    parameters = f"{'num_ctx':<30} {model.context_window}"
    modelfile = (
        '# Modelfile generated by "ollama show"\n'
        f"FROM {model.name}\n"
        f'TEMPLATE """{TEMPLATE}"""\n'
        f"PARAMETER num_ctx {model.context_window}\n"
    )
    return {
        "license": "",
        "modelfile": modelfile,
        "parameters": parameters,
        "template": TEMPLATE,
        "details": details(model),
        "model_info": {
            "general.architecture": family,
            "general.basename": model.name.rsplit("/", 1)[-1],
            f"{family}.context_length": model.context_window,
        },
        "capabilities": capabilities(model),
        "modified_at": modified_at(model),
    }
