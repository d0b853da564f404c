"""Ollama's native API: /api/chat, /api/generate, /api/embed, /api/tags, /api/create and friends."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

from .base import ApiError, Ctx, ModelInfo, Response, Stream, canonical, dumps, now_iso, random_id
from .content import (
    DEFAULT_EMBEDDING_DIMS,
    Chat,
    Reply,
    Tool,
    Turn,
    embedding,
    embedding_inputs,
    make_reply,
    prompt_tokens,
)

NDJSON = "application/x-ndjson"
BLOBS = "/api/blobs/"
DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")
VERSION = "0.12.6"
DONE_REASON = {"end": "stop", "stop_sequence": "stop", "length": "length", "tool": "stop"}
GARBAGE = b'{"model":"garbage","message": oops\n'
# Deterministic fake timings, in nanoseconds.
LOAD_NS = 1_000_000
PROMPT_NS_PER_TOKEN = 100_000
EVAL_NS_PER_TOKEN = 10_000_000


def _line(value: dict[str, Any]) -> bytes:
    return dumps(value) + b"\n"


def _options(body: dict[str, Any], chat: Chat) -> None:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "invalid options")
    predict = options.get("num_predict")
    if isinstance(predict, int) and not isinstance(predict, bool) and predict >= 0:
        chat.max_tokens = predict
    stop = options.get("stop")
    if stop:
        chat.stop = [stop] if isinstance(stop, str) else [str(s) for s in stop]
    fmt = body.get("format")
    if fmt == "json":
        chat.json_mode = True
    elif isinstance(fmt, dict):
        chat.json_mode = True
        chat.json_schema = fmt
    think = body.get("think")
    chat.reasoning = bool(think) and think not in ("false", "none")


def _stats(prompt: int, reply: Reply | None, no_usage: bool) -> dict[str, Any]:
    evals = reply.completion_tokens if reply else 0
    prompt_ns = prompt * PROMPT_NS_PER_TOKEN
    eval_ns = evals * EVAL_NS_PER_TOKEN
    stats: dict[str, Any] = {
        "total_duration": LOAD_NS + prompt_ns + eval_ns,
        "load_duration": LOAD_NS,
    }
    if not no_usage:
        stats["prompt_eval_count"] = prompt
    stats["prompt_eval_duration"] = prompt_ns
    if not no_usage:
        stats["eval_count"] = evals
    stats["eval_duration"] = eval_ns
    return stats


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": "call_" + random_id(8).lower(),
            "function": {"index": 0, "name": reply.tool_name, "arguments": reply.tool_input()},
        }
    ]


def _error_line(status: int = 500) -> bytes:
    return _line({"error": "an error was encountered while running the model: unexpected EOF"})


def parse_chat(body: dict[str, Any]) -> Chat:
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise ApiError(400, "messages must be an array")
    chat = Chat(model=str(body.get("model")))
    for message in messages:
        if not isinstance(message, dict):
            raise ApiError(400, "invalid message")
        role = str(message.get("role", "user"))
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise ApiError(
                400,
                "json: cannot unmarshal array into Go struct field Message.messages.content of type string",
            )
        images = message.get("images") or []
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                calls.append(
                    (str(function.get("name", "")), dumps(function.get("arguments") or {}).decode())
                )
        chat.turns.append(
            Turn(
                role=role,
                text=content,
                images=len(images) if isinstance(images, list) else 0,
                tool_calls=calls,
                tool_result=role == "tool",
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
    _options(body, chat)
    return chat


def chat(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    model = body["model"]
    parsed = parse_chat(body)
    if not parsed.turns:
        done = {
            "model": model,
            "created_at": now_iso(),
            "message": {"role": "assistant", "content": ""},
        }
        return Response(200, dumps({**done, "done_reason": "load", "done": True}))
    info.apply(parsed)
    ctx.record["system"] = parsed.system_text() or None
    reply = make_reply(parsed, ctx.directives, ctx.config["reply_tokens"])
    stats = _stats(prompt_tokens(parsed), reply, ctx.no_usage)
    if not body.get("stream", True):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "" if reply.tool_name else reply.text,
        }
        if reply.reasoning:
            message["thinking"] = reply.reasoning
        if reply.tool_name:
            message["tool_calls"] = _tool_calls(reply)
        result = {
            "model": model,
            "created_at": now_iso(),
            "message": message,
            "done_reason": DONE_REASON[reply.finish],
            "done": True,
            **stats,
        }
        return Response(200, dumps(result))
    created = now_iso()
    prefix = b'{"model":' + dumps(model) + b',"created_at":"' + created.encode() + b'","message":'
    suffix = b',"done":false}\n'
    frames = [
        prefix + dumps({"role": "assistant", "content": "", "thinking": piece}) + suffix
        for piece in reply.reasoning_pieces
    ]
    if reply.tool_name:
        frames.append(
            prefix
            + dumps({"role": "assistant", "content": "", "tool_calls": _tool_calls(reply)})
            + suffix
        )
    else:
        frames += [
            prefix + dumps({"role": "assistant", "content": piece}) + suffix
            for piece in reply.pieces
        ]
    final = {
        "model": model,
        "created_at": now_iso(),
        "message": {"role": "assistant", "content": ""},
        "done_reason": DONE_REASON[reply.finish],
        "done": True,
        **stats,
    }
    frames.append(_line(final))
    return Stream(NDJSON, frames, _error_line(), GARBAGE)


def parse_generate(body: dict[str, Any]) -> Chat:
    """A generate request as a one-message chat (plus its ``system``, if any)."""
    prompt_text = body.get("prompt") or ""
    if not isinstance(prompt_text, str):
        raise ApiError(400, "prompt must be a string")
    images = body.get("images") or []
    images_count = len(images) if isinstance(images, list) else 0
    parsed = Chat(
        model=str(body.get("model")), turns=[Turn("user", prompt_text, images=images_count)]
    )
    if isinstance(body.get("system"), str) and body["system"]:
        parsed.system = body["system"]
    _options(body, parsed)
    return parsed


def generate(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    info = ctx.state.chat_model(ctx, body)
    model = body["model"]
    prompt_text = body.get("prompt") or ""
    if not isinstance(prompt_text, str):
        raise ApiError(400, "prompt must be a string")
    if not prompt_text and not body.get("images"):
        result = {
            "model": model,
            "created_at": now_iso(),
            "response": "",
            "done": True,
            "done_reason": "load",
        }
        return Response(200, dumps(result))
    parsed = parse_generate(body)
    info.apply(parsed)
    ctx.record["system"] = parsed.system_text() or None
    reply = make_reply(parsed, ctx.directives, ctx.config["reply_tokens"])
    prompt = prompt_tokens(parsed)
    stats = _stats(prompt, reply, ctx.no_usage)
    context = None
    if not body.get("raw"):
        seed = hashlib.blake2b(prompt_text.encode(), digest_size=32).digest()
        context = [
            seed[i % 32] + 1000 * (i % 7) for i in range(min(prompt + reply.completion_tokens, 64))
        ]
    end: dict[str, Any] = {"done_reason": DONE_REASON[reply.finish]}
    if context is not None:
        end["context"] = context
    if not body.get("stream", True):
        result: dict[str, Any] = {"model": model, "created_at": now_iso(), "response": reply.text}
        if reply.reasoning:
            result["thinking"] = reply.reasoning
        result.update(done=True, **end, **stats)
        return Response(200, dumps(result))
    prefix = b'{"model":' + dumps(model) + b',"created_at":"' + now_iso().encode() + b'",'
    frames = [
        prefix + b'"response":"","thinking":' + dumps(p) + b',"done":false}\n'
        for p in reply.reasoning_pieces
    ]
    frames += [prefix + b'"response":' + dumps(p) + b',"done":false}\n' for p in reply.pieces]
    frames.append(
        _line(
            {"model": model, "created_at": now_iso(), "response": "", "done": True, **end, **stats}
        )
    )
    return Stream(NDJSON, frames, _error_line(), GARBAGE)


def embed(ctx: Ctx) -> Response:
    body = ctx.body
    ctx.state.model(ctx, body)
    try:
        inputs = embedding_inputs(body.get("input", ""))
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    dims = body.get("dimensions") or DEFAULT_EMBEDDING_DIMS
    if not isinstance(dims, int) or dims < 1:
        raise ApiError(400, "dimensions must be a positive integer")
    tokens = sum(t for _k, t in inputs)
    result: dict[str, Any] = {
        "model": body["model"],
        "embeddings": [list(embedding(key, dims)) for key, _t in inputs],
        "total_duration": LOAD_NS + tokens * PROMPT_NS_PER_TOKEN,
        "load_duration": LOAD_NS,
    }
    if not ctx.no_usage:
        result["prompt_eval_count"] = tokens
    return Response(200, dumps(result))


def embeddings_legacy(ctx: Ctx) -> Response:
    body = ctx.body
    ctx.state.model(ctx, body)
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise ApiError(400, "prompt must be a string")
    return Response(200, dumps({"embedding": list(embedding(prompt, DEFAULT_EMBEDDING_DIMS))}))


# --------------------------------------------------------------------------- model management


def _tag_entry(info: ModelInfo) -> dict[str, Any]:
    return {
        "name": canonical(info.name),
        "model": canonical(info.name),
        "modified_at": info.modified_at,
        "size": info.size,
        "digest": info.digest,
        "details": info.details(),
    }


def tags(ctx: Ctx) -> Response:
    return Response(200, dumps({"models": [_tag_entry(i) for i in ctx.state.models.values()]}))


def ps(ctx: Ctx) -> Response:
    return Response(200, dumps({"models": []}))


def version(ctx: Ctx) -> Response:
    return Response(200, dumps({"version": VERSION}))


def _name(body: Any) -> str:
    name = body.get("model") or body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise ApiError(400, "model is required")
    return name


def _parameters_text(parameters: dict[str, Any]) -> str:
    lines = []
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            shown = (
                f'"{item}"'
                if isinstance(item, str)
                else str(item).lower()
                if isinstance(item, bool)
                else item
            )
            lines.append(f"{key:<30} {shown}")
    return "\n".join(lines)


def show(ctx: Ctx) -> Response:
    name = _name(ctx.body)
    info = ctx.state.resolve(name)
    if info is None:
        raise ApiError(404, f"model '{name}' not found")
    arch = info.family
    modelfile = [
        '# Modelfile generated by "ollama show"',
        f"FROM {info.parent or canonical(info.name)}",
        f'TEMPLATE """{info.template}"""',
    ]
    if info.system:
        modelfile.append(f'SYSTEM """{info.system}"""')
    modelfile += [
        f"ADAPTER /root/.ollama/models/blobs/{digest.replace(':', '-')}"
        for name, digest in info.adapters.items()
        if name.endswith(".safetensors")
    ]
    modelfile += [
        f"PARAMETER {key} {item}"
        for key, value in info.parameters.items()
        for item in (value if isinstance(value, list) else [value])
    ]
    result: dict[str, Any] = {
        "license": info.license or "",
        "modelfile": "\n".join(modelfile) + "\n",
        "parameters": _parameters_text(info.parameters),
        "template": info.template,
        "details": info.details(),
        "model_info": {
            "general.architecture": arch,
            "general.file_type": 15,
            "general.parameter_count": info.size * 1000,
            "general.quantization_version": 2,
            f"{arch}.context_length": info.context_length,
            f"{arch}.embedding_length": info.embedding_length,
        },
        "capabilities": ["embedding"] if info.kind == "embed" else ["completion", "tools"],
        "modified_at": info.modified_at,
    }
    if info.system:
        result["system"] = info.system
    if info.messages:
        result["messages"] = info.messages
    return Response(200, dumps(result))


def _from_modelfile(text: str) -> dict[str, Any]:
    """FROM / SYSTEM / TEMPLATE / LICENSE / PARAMETER / MESSAGE lines of a legacy Modelfile."""
    spec: dict[str, Any] = {"parameters": {}, "messages": []}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.upper(), value.strip()
        if value.startswith('"""'):
            value = value[3:]
            while '"""' not in value and index < len(lines):
                value += "\n" + lines[index]
                index += 1
            value = value.split('"""', 1)[0]
        if key == "PARAMETER":
            name, _, raw = value.partition(" ")
            raw = raw.strip().strip('"')
            if name == "stop":
                spec["parameters"].setdefault("stop", []).append(raw)
            else:
                spec["parameters"][name] = int(raw) if raw.lstrip("-").isdigit() else raw
        elif key == "MESSAGE":
            role, _, content = value.partition(" ")
            spec["messages"].append({"role": role, "content": content.strip()})
        elif key in ("FROM", "SYSTEM", "TEMPLATE", "LICENSE"):
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            spec[key.lower()] = value
    return spec


def create(ctx: Ctx) -> Response | Stream:
    body = ctx.body
    name = _name(body)
    spec = dict(body)
    if isinstance(body.get("modelfile"), str):
        spec.update(_from_modelfile(body["modelfile"]))
    parent_name = spec.get("from")
    if not parent_name:
        if spec.get("files"):
            parent_name = None
        else:
            raise ApiError(400, "neither 'from' or 'files' was specified")
    parent = ctx.state.resolve(parent_name) if parent_name else ModelInfo(name)
    if parent is None:
        raise ApiError(404, f'model "{parent_name}" not found, try pulling it first')
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ApiError(400, "parameters must be an object")
    messages = spec.get("messages") or []
    adapters = _adapters(ctx, spec.get("adapters"))
    info = ModelInfo(
        name,
        kind=parent.kind,
        family=parent.family,
        parameter_size=parent.parameter_size,
        quantization=str(spec.get("quantize") or parent.quantization).upper(),
        context_length=int(parameters.get("num_ctx") or parent.context_length),
        embedding_length=parent.embedding_length,
        owned_by="library",
        parent=canonical(parent_name) if parent_name else "",
        system=spec.get("system") if spec.get("system") is not None else parent.system,
        template=spec.get("template") or parent.template,
        parameters={**parent.parameters, **parameters},
        messages=[*parent.messages, *messages]
        if isinstance(messages, list)
        else list(parent.messages),
        license=spec.get("license") if isinstance(spec.get("license"), str) else parent.license,
        modified_at=now_iso(),
        adapters=adapters or dict(parent.adapters),
    )
    ctx.state.add_model(info)
    statuses = ["reading model metadata"]
    if adapters:
        statuses += ["converting adapter", "creating adapter layer"]
    if info.system:
        statuses.append("creating system layer")
    if parameters:
        statuses.append("creating parameters layer")
    statuses += [f"using already created layer sha256:{info.digest}", "writing manifest", "success"]
    if not body.get("stream", True):
        return Response(200, dumps({"status": "success"}))
    lines = [_line({"status": s}) for s in statuses]
    return Stream(NDJSON, lines, _error_line(), GARBAGE)


def _adapters(ctx: Ctx, adapters: Any) -> dict[str, str]:
    """`adapters` of /api/create: file name → digest of a blob the server has (a safetensors
    adapter: its adapter_config.json and a .safetensors file)."""
    if adapters is None:
        return {}
    if not isinstance(adapters, dict) or not all(isinstance(v, str) for v in adapters.values()):
        raise ApiError(400, "adapters must be an object of file names to digests")
    for name, digest in adapters.items():
        if not DIGEST.fullmatch(digest):
            raise ApiError(400, "invalid digest format")
        if digest.replace("-", ":", 1) not in ctx.state.blobs:
            path = f"/root/.ollama/models/blobs/{digest.replace(':', '-')}"
            raise ApiError(400, f"open {path}: no such file or directory ({name})")
    names = set(adapters)
    if adapters and (
        "adapter_config.json" not in names or not any(n.endswith(".safetensors") for n in names)
    ):
        raise ApiError(400, "unknown adapter format: expected adapter_config.json and .safetensors")
    return dict(adapters)


def blob(state: Any, method: str, path: str, data: bytes) -> Response:
    """HEAD /api/blobs/<digest>: 200 or 404. POST: the bytes, 201 (200 if already there), 400 if
    their sha256 is not the digest."""
    digest = path[len(BLOBS) :]
    if not DIGEST.fullmatch(digest):
        raise ApiError(400, "invalid digest format")
    digest = digest.replace("-", ":", 1)
    if method == "HEAD":
        return Response(200 if digest in state.blobs else 404, b"")
    if method != "POST":
        raise ApiError(405, f"{method} {path} is not supported")
    if digest in state.blobs:
        return Response(200, b"")
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ApiError(400, f'digest mismatch, expected "{digest}", got "{actual}"')
    with state.lock:
        state.blobs[digest] = len(data)
    return Response(201, b"")


def delete(ctx: Ctx) -> Response:
    name = _name(ctx.body)
    if not ctx.state.remove_model(name):
        raise ApiError(404, f"model '{name}' not found")
    return Response(200, b"")


def copy(ctx: Ctx) -> Response:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    source, destination = body.get("source"), body.get("destination")
    if not source or not destination:
        raise ApiError(400, "source and destination are required")
    info = ctx.state.resolve(str(source))
    if info is None:
        raise ApiError(404, f"model '{source}' not found")
    ctx.state.add_model(dataclasses.replace(info, name=str(destination)))
    return Response(200, b"")


def pull(ctx: Ctx) -> Response | Stream:
    name = _name(ctx.body)
    if ctx.state.resolve(name) is None:
        raise ApiError(500, "pull model manifest: file does not exist")
    if not ctx.body.get("stream", True):
        return Response(200, dumps({"status": "success"}))
    statuses = ["pulling manifest", "verifying sha256 digest", "writing manifest", "success"]
    return Stream(NDJSON, [_line({"status": s}) for s in statuses], _error_line(), GARBAGE)
