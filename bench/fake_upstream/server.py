"""The server: per-instance state, routing, faults, the control API and :class:`FakeUpstream`."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import anthropic_api, ollama_api, openai_api, responses_api
from .base import (
    BASE_MODELS,
    ApiError,
    Ctx,
    ModelInfo,
    Response,
    Stream,
    canonical,
    dumps,
    error_response,
)
from .content import (
    DEFAULT_REPLY_TOKENS,
    NO_DIRECTIVES,
    Chat,
    Directives,
    count_tokens,
    embedding_inputs,
    parse_directives,
    prompt_tokens,
    text_of,
)
from .http import (
    LAST_CHUNK,
    HttpError,
    Request,
    chunk,
    head_bytes,
    peer_gone,
    read_request,
    wait_or_gone,
)

MAX_RECORDS = 1000

CONFIG_DEFAULTS: dict[str, Any] = {
    "status": None,  # every API request answers with this error status
    "status_times": None,  # ... only for the next N requests (None = until changed)
    "latency_ms": 0,  # delay before the response headers
    "chunk_delay_ms": 0,  # delay between stream events
    "require_keys": None,  # list of accepted API keys (None = no auth)
    "key_status": {},  # {"key": status} forced per key
    "reply_tokens": DEFAULT_REPLY_TOKENS,  # length of generated replies
    "retry_after": 1,  # Retry-After seconds on 429
    "close_delimited": False,  # stream without chunked encoding, closing the connection
    "any_model": False,  # accept unknown model names as chat models instead of 404
    "stall_max_s": 300,  # give up on a stalled stream after this long
    "models": [],  # extra model names (or {"name", "kind"} objects) to serve
    # `[[name:value]]` directives every API request gets, as if its prompt began with them:
    # one instance misbehaves while another, sent the same prompt, does not (failover tests)
    "directives": "",
}
_INT_KEYS = ("latency_ms", "chunk_delay_ms", "reply_tokens", "retry_after", "stall_max_s")


def _check_config(values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "reset":
            continue
        if key not in CONFIG_DEFAULTS:
            raise ValueError(f"unknown config key {key!r}")
        if key in _INT_KEYS and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            raise ValueError(f"{key} must be a non-negative integer")
        if key in ("status", "status_times") and value is not None and not isinstance(value, int):
            raise ValueError(f"{key} must be an integer or null")
        if key == "require_keys" and value is not None and not isinstance(value, list):
            raise ValueError("require_keys must be a list of keys or null")
        if key == "key_status" and not isinstance(value, dict):
            raise ValueError("key_status must be an object of key: status")
        if key == "models" and not isinstance(value, list):
            raise ValueError("models must be a list")
        if key == "directives" and not isinstance(value, str):
            raise ValueError("directives must be a string of [[name:value]] directives")


def _model_from_spec(spec: Any) -> ModelInfo:
    if isinstance(spec, str):
        return ModelInfo(spec, kind="embed" if "embed" in spec else "chat")
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        return ModelInfo(spec["name"], kind=str(spec.get("kind", "chat")))
    raise ValueError(f"bad model spec {spec!r}")


class State:
    """Everything one fake upstream instance remembers: config, models, recorded requests."""

    def __init__(
        self, models: list[Any] | None = None, config: dict[str, Any] | None = None
    ) -> None:
        self.lock = threading.Lock()
        self.fingerprint = "fp_" + os.urandom(5).hex()
        self._extra_models = [_model_from_spec(m) for m in models or []]
        self.records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._seq = 0
        self.config: dict[str, Any] = {}
        self.models: dict[str, ModelInfo] = {}
        self.blobs: dict[str, int] = {}  # Ollama's blob store: digest → size
        self.reset()
        if config:
            self.configure(config)

    # ----------------------------------------------------------------- config / models

    def reset(self) -> None:
        with self.lock:
            self.config = copy.deepcopy(CONFIG_DEFAULTS)
            self.models = {canonical(m.name): m for m in (*BASE_MODELS, *self._extra_models)}
            self.blobs = {}
            self.records.clear()

    def configure(self, values: dict[str, Any]) -> dict[str, Any]:
        _check_config(values)
        if values.get("reset"):
            self.reset()
        with self.lock:
            config = dict(self.config)
            for key, value in values.items():
                if key != "reset":
                    config[key] = copy.deepcopy(value)
            if "require_keys" in values and values["require_keys"] is not None:
                config["require_keys"] = [str(k) for k in values["require_keys"]]
            if "key_status" in values:
                config["key_status"] = {str(k): int(v) for k, v in values["key_status"].items()}
            for spec in values.get("models") or []:
                info = _model_from_spec(spec)
                self.models[canonical(info.name)] = info
            self.config = config
            return copy.deepcopy(config)

    def resolve(self, name: str) -> ModelInfo | None:
        info = self.models.get(canonical(name))
        if info is None and self.config["any_model"]:
            info = ModelInfo(name, kind="embed" if "embed" in name else "chat")
        return info

    def add_model(self, info: ModelInfo) -> None:
        with self.lock:
            self.models[canonical(info.name)] = info

    def remove_model(self, name: str) -> bool:
        with self.lock:
            return self.models.pop(canonical(name), None) is not None

    def model(self, ctx: Ctx, body: Any) -> ModelInfo:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            message = {
                "ollama": "model is required",
                "anthropic": "model: Field required",
            }.get(ctx.api, "you must provide a model parameter")
            raise ApiError(400, message, param="model")
        info = self.resolve(name)
        if info is None:
            message = {
                "ollama": f'model "{name}" not found, try pulling it first',
                "anthropic": f"model: {name}",
            }.get(ctx.api, f"The model `{name}` does not exist or you do not have access to it.")
            raise ApiError(404, message, code="model_not_found")
        return info

    def chat_model(self, ctx: Ctx, body: Any) -> ModelInfo:
        info = self.model(ctx, body)
        if info.kind == "embed":
            raise ApiError(400, f'"{body["model"]}" does not support chat', param="model")
        return info

    # ----------------------------------------------------------------- records

    def new_record(self, request: Request, api: str, body: Any) -> dict[str, Any]:
        with self.lock:
            self._seq += 1
            record = {
                "id": self._seq,
                "time": time.time(),
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers,
                "body": body,
                "api": api,
                "model": body.get("model") if isinstance(body, dict) else None,
                "stream": False,
                "status": None,
                "directives": [],
                "system": None,
                "events_sent": 0,
                "completed": False,
                "disconnected": False,
                "dropped": False,
                "stalled": False,
            }
            self.records.append(record)
        return record

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records]

    def clear(self) -> int:
        with self.lock:
            count = len(self.records)
            self.records.clear()
            return count

    def take_status(self) -> int | None:
        """The instance-wide forced status for this request, counting down ``status_times``."""
        with self.lock:
            status = self.config["status"]
            if status is None:
                return None
            times = self.config["status_times"]
            if times is not None:
                if times <= 1:
                    self.config = {**self.config, "status": None, "status_times": None}
                else:
                    self.config = {**self.config, "status_times": times - 1}
            return status


# --------------------------------------------------------------------------- routing

Handler = Callable[[Ctx], "Response | Stream"]
# (method, path) -> (api, handler, takes directives from the prompt)
ROUTES: dict[tuple[str, str], tuple[str, Handler, bool]] = {
    ("POST", "/v1/chat/completions"): ("openai", openai_api.chat_completions, True),
    ("POST", "/v1/completions"): ("openai", openai_api.completions, True),
    ("POST", "/v1/embeddings"): ("openai", openai_api.embeddings, True),
    ("POST", "/v1/responses"): ("openai", responses_api.responses, True),
    ("GET", "/v1/models"): ("openai", openai_api.list_models, False),
    ("POST", "/v1/messages"): ("anthropic", anthropic_api.messages, True),
    ("POST", "/v1/messages/count_tokens"): ("anthropic", anthropic_api.count_tokens, True),
    ("POST", "/api/chat"): ("ollama", ollama_api.chat, True),
    ("POST", "/api/generate"): ("ollama", ollama_api.generate, True),
    ("POST", "/api/embed"): ("ollama", ollama_api.embed, True),
    ("POST", "/api/embeddings"): ("ollama", ollama_api.embeddings_legacy, True),
    ("GET", "/api/tags"): ("ollama", ollama_api.tags, False),
    ("GET", "/api/ps"): ("ollama", ollama_api.ps, False),
    ("GET", "/api/version"): ("ollama", ollama_api.version, False),
    ("POST", "/api/show"): ("ollama", ollama_api.show, False),
    ("POST", "/api/create"): ("ollama", ollama_api.create, False),
    ("DELETE", "/api/delete"): ("ollama", ollama_api.delete, False),
    ("POST", "/api/copy"): ("ollama", ollama_api.copy, False),
    ("POST", "/api/pull"): ("ollama", ollama_api.pull, False),
}
_PATHS = {path for _m, path in ROUTES}


def _route(method: str, path: str) -> tuple[str, Handler, bool] | None:
    if method == "HEAD":
        method = "GET"
    found = ROUTES.get((method, path))
    if found is None and method == "GET" and path.startswith("/v1/models/") and len(path) > 11:
        return ("openai", openai_api.retrieve_model, False)
    return found


def directive_text(body: Any) -> str:
    """The text directives are read from: the last user message, or the prompt / input."""
    if not isinstance(body, dict):
        return ""
    try:
        messages = body.get("messages")
        if isinstance(messages, list):
            for message in reversed(messages):
                if isinstance(message, dict) and message.get("role") == "user":
                    content = message.get("content")
                    if (
                        isinstance(content, list)
                        and content
                        and all(
                            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
                        )
                    ):
                        continue
                    return text_of(content)[0]
            return ""
        for key in ("prompt", "input"):
            value = body.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list) and any(isinstance(v, dict) for v in value):
                # Responses API input items: the last user message
                users = [v for v in value if isinstance(v, dict) and v.get("role") == "user"]
                return text_of(users[-1].get("content"))[0] if users else ""
            if isinstance(value, list):
                return "\n".join(v for v in value if isinstance(v, str))
    except Exception:
        return ""
    return ""


def _api_for_path(path: str) -> str:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/api/") or path == "/":
        return "ollama"
    return "openai"


def _key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key") or None


class Server:
    """Serves one :class:`State` on asyncio streams (one task per connection)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.writers.add(writer)
        try:
            while True:
                try:
                    request = await read_request(reader, writer)
                except HttpError as exc:
                    api = "openai"
                    response = error_response(api, exc.status, exc.message)
                    writer.write(
                        head_bytes(
                            exc.status,
                            [("Content-Type", "application/json")],
                            keep_alive=False,
                            length=len(response.body),
                        )
                        + response.body
                    )
                    await writer.drain()
                    break
                if request is None:
                    break
                if not await self.dispatch(request, reader, writer) or not request.keep_alive:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # server shutting down: end this connection's task quietly
        finally:
            self.writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    # ----------------------------------------------------------------- dispatch

    async def dispatch(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        path = request.path
        if path.startswith("/_fake/"):
            return await self.send(request, writer, self.control(request))
        if path.startswith(ollama_api.BLOBS):
            record = self.state.new_record(request, "ollama", None)
            record["bytes"] = len(request.body)
            try:
                response = ollama_api.blob(self.state, request.method, path, request.body)
            except ApiError as exc:
                response = error_response("ollama", exc.status, exc.message)
            return await self.send(request, writer, response, record)
        route = _route(request.method, path)
        if route is None:
            if path == "/" and request.method in ("GET", "HEAD"):
                return await self.send(
                    request,
                    writer,
                    Response(200, b"Ollama is running", "text/plain; charset=utf-8"),
                )
            api = _api_for_path(path)
            status = 405 if path in _PATHS else 404
            message = (
                f"{request.method} {path} is not supported"
                if status == 405
                else f"404 page not found: {path}"
            )
            return await self.send(request, writer, error_response(api, status, message))
        api, handler, reads_directives = route
        body: Any = None
        bad_json = False
        if request.body:
            try:
                body = json.loads(request.body)
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        record = self.state.new_record(request, api, body)
        if bad_json:
            record["body_text"] = request.body[:2000].decode("utf-8", "replace")
            message = {
                "ollama": "invalid character in JSON body",
                "anthropic": "There was an error parsing the body of your request as JSON.",
            }.get(api, "We could not parse the JSON body of your request.")
            return await self.send(request, writer, error_response(api, 400, message), record)
        if request.method in ("POST",) and not isinstance(body, dict):
            return await self.send(
                request,
                writer,
                error_response(api, 400, "The request body must be a JSON object."),
                record,
            )
        if not isinstance(body, dict):
            body = {}
        config = self.state.config
        directives = NO_DIRECTIVES
        if reads_directives:
            directives = parse_directives(f"{config['directives']} {directive_text(body)}")
        if directives is not NO_DIRECTIVES:
            record["directives"] = directives.names()
        record["stream"] = bool(
            body.get("stream", api == "ollama" and path in ("/api/chat", "/api/generate"))
        )

        latency = (
            directives.latency_ms if directives.latency_ms is not None else config["latency_ms"]
        )
        if latency and await wait_or_gone(reader, writer, latency / 1000):
            record["disconnected"] = True
            return False

        key = _key(request.headers)
        retry_after = (
            directives.retry_after if directives.retry_after is not None else config["retry_after"]
        )
        required = config["require_keys"]
        if required is not None and key not in required:
            shown = f"{key[:3]}...{key[-4:]}" if key and len(key) > 8 else key
            message = {
                "ollama": "unauthorized",
                "anthropic": "invalid x-api-key",
            }.get(
                api,
                f"Incorrect API key provided: {shown}."
                if key
                else "You didn't provide an API key.",
            )
            return await self.send(request, writer, error_response(api, 401, message), record)
        status = None
        if key is not None and key in config["key_status"]:
            status = config["key_status"][key]
        if status is None:
            status = directives.status
        if status is None:
            status = self.state.take_status()
        if status is not None and status >= 400:
            return await self.send(
                request, writer, error_response(api, status, retry_after=retry_after), record
            )
        if directives.garbage and not record["stream"]:
            return await self.send(
                request, writer, Response(200, b'{"id": "garbage", "choices": [oops'), record
            )

        ctx = Ctx(
            api, request.method, path, request.headers, body, directives, config, self.state, record
        )
        try:
            result = handler(ctx)
        except ApiError as exc:
            result = error_response(api, exc.status, exc.message, code=exc.code, param=exc.param)
        except Exception as exc:  # a request shape the fake does not understand
            record["error"] = repr(exc)
            result = error_response(
                api, 500, f"fake upstream could not handle this request: {exc!r}"
            )
        if isinstance(result, Stream):
            return await self.send_stream(request, reader, writer, result, directives, record)
        if directives.huge is not None and result.status == 200:
            result.body = padded(result.body, directives.huge)
        if directives.error_200 is not None and result.status == 200:
            result = error_response(api, 500, http_status=200)
        if (
            directives.drop_after is not None or directives.stall_after is not None
        ) and result.body:
            return await self.send_partial(request, reader, writer, result, directives, record)
        return await self.send(request, writer, result, record)

    # ----------------------------------------------------------------- writing

    async def send(
        self,
        request: Request,
        writer: asyncio.StreamWriter,
        response: Response,
        record: dict[str, Any] | None = None,
    ) -> bool:
        keep_alive = request.keep_alive
        head = head_bytes(
            response.status,
            [("Content-Type", response.content_type), *response.headers],
            keep_alive=keep_alive,
            length=len(response.body),
        )
        if record is not None:
            record["status"] = response.status
        try:
            writer.write(head if request.method == "HEAD" else head + response.body)
            await writer.drain()
        except ConnectionError:
            if record is not None:
                record["disconnected"] = True
            return False
        if record is not None:
            record["completed"] = True
        return keep_alive

    async def send_partial(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: Response,
        directives: Directives,
        record: dict[str, Any],
    ) -> bool:
        """A non-streamed reply cut in half: the connection is dropped or left hanging."""
        record["status"] = response.status
        head = head_bytes(
            response.status,
            [("Content-Type", response.content_type), *response.headers],
            keep_alive=False,
            length=len(response.body),
        )
        try:
            writer.write(head + response.body[: len(response.body) // 2])
            await writer.drain()
        except ConnectionError:
            record["disconnected"] = True
            return False
        if directives.drop_after is not None:
            record["dropped"] = True
            return False
        await self.stall(reader, writer, record)
        return False

    async def stall(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: dict[str, Any]
    ) -> None:
        record["stalled"] = True
        if await wait_or_gone(reader, writer, self.state.config["stall_max_s"]):
            record["disconnected"] = True

    async def send_stream(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stream: Stream,
        directives: Directives,
        record: dict[str, Any],
    ) -> bool:
        config = self.state.config
        record["stream"] = True
        record["status"] = 200
        chunked = request.version == "HTTP/1.1" and not config["close_delimited"]
        keep_alive = request.keep_alive and chunked
        headers = [
            ("Content-Type", stream.content_type),
            ("Cache-Control", "no-cache"),
            *stream.headers,
        ]
        frames = stream.frames
        if directives.huge is not None:  # one line that never ends, in 1 MB pieces
            size = max(directives.huge - 6, 0)
            frames = [b"data: ", *(b"x" * min(1 << 20, size - i) for i in range(0, size, 1 << 20))]
        elif directives.garbage:
            frames = [stream.garbage_frame, stream.garbage_frame]
        elif directives.error_200 is not None:
            frames = [*frames[: directives.error_200], stream.error_frame]
        delay_ms = (
            directives.chunk_delay_ms
            if directives.chunk_delay_ms is not None
            else config["chunk_delay_ms"]
        )
        delay = delay_ms / 1000
        drop_after, stall_after = directives.drop_after, directives.stall_after
        try:
            writer.write(head_bytes(200, headers, keep_alive=keep_alive, chunked=chunked))
            await writer.drain()
            for index, frame in enumerate(frames):
                if drop_after is not None and index >= drop_after:
                    record["dropped"] = True
                    return False
                if stall_after is not None and index >= stall_after:
                    await self.stall(reader, writer, record)
                    return False
                if delay and index and await wait_or_gone(reader, writer, delay):
                    record["disconnected"] = True
                    return False
                if peer_gone(reader, writer):
                    record["disconnected"] = True
                    return False
                writer.write(chunk(frame) if chunked else frame)
                await writer.drain()
                record["events_sent"] = index + 1
            if chunked:
                writer.write(LAST_CHUNK)
                await writer.drain()
        except ConnectionError:
            record["disconnected"] = True
            return False
        record["completed"] = True
        return keep_alive

    # ----------------------------------------------------------------- control API

    def control(self, request: Request) -> Response:
        path, method = request.path, request.method
        try:
            if path == "/_fake/config":
                if method == "GET":
                    return Response(200, dumps(self.state.configure({})))
                if method == "POST":
                    values = request.json() or {}
                    if not isinstance(values, dict):
                        raise ValueError("config must be a JSON object")
                    return Response(200, dumps(self.state.configure(values)))
            elif path == "/_fake/requests":
                if method == "GET":
                    records = self.state.snapshot()
                    limit = _query_int(request.query, "limit")
                    if limit is not None:
                        records = records[-limit:] if limit else []
                    return Response(200, dumps(records))
                if method == "DELETE":
                    return Response(200, dumps({"cleared": self.state.clear()}))
            elif path == "/_fake/health" and method == "GET":
                return Response(200, b'{"ok":true}')
            elif path == "/_fake/reset" and method == "POST":
                self.state.reset()
                return Response(200, dumps(self.state.configure({})))
            else:
                return Response(404, dumps({"error": f"no control endpoint {path}"}))
        except ValueError as exc:
            return Response(400, dumps({"error": str(exc)}))
        return Response(405, dumps({"error": f"{method} not allowed on {path}"}))


def padded(body: bytes, size: int) -> bytes:
    """A JSON object's body grown to about `size` bytes by a `padding` member."""
    if not body.endswith(b"}") or len(body) >= size:
        return body
    return body[:-1] + b',"padding":"' + b"x" * (size - len(body) - 14) + b'"}'


def _query_int(query: str, name: str) -> int | None:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name and value.isdigit():
            return int(value)
    return None


def prompt_tokens_for(api: str, body: dict[str, Any], state: State | None = None) -> int:
    """The prompt tokens the fake reports for ``body``, without sending it.

    ``api`` is "openai" (chat completions), "anthropic" (messages / count_tokens),
    "ollama_chat", "ollama_generate", "completions" (legacy) or "embeddings". Pass an
    instance's ``state`` (``up.state``) so created models' system prompts count too.
    """
    if api == "completions":
        prompt = body.get("prompt", "")
        return sum(count_tokens(p) for p in ([prompt] if isinstance(prompt, str) else prompt))
    if api == "embeddings":
        return sum(tokens for _key, tokens in embedding_inputs(body.get("input", "")))
    parsers: dict[str, Callable[[dict[str, Any]], Chat]] = {
        "openai": openai_api.parse_chat,
        "anthropic": lambda b: anthropic_api.parse_messages(b, need_max_tokens=False),
        "ollama_chat": ollama_api.parse_chat,
        "ollama_generate": ollama_api.parse_generate,
    }
    if api not in parsers:
        raise ValueError(f"unknown api {api!r}")
    chat = parsers[api](body)
    info = (state or State()).resolve(str(body.get("model", "")))
    if info is not None:
        info.apply(chat)
    return prompt_tokens(chat)


# --------------------------------------------------------------------------- public class


class FakeUpstream:
    """A fake OpenAI / Anthropic / Ollama upstream on its own thread and asyncio loop.

    >>> with FakeUpstream() as up:  # port 0 picks a free port
    ...     up.url  # "http://127.0.0.1:PORT"
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        models: list[Any] | None = None,
        **config: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.state = State(models, config)
        self._server = Server(self.state)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.base_events.Server | None = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._listener = loop.run_until_complete(
                    asyncio.start_server(
                        self._server.handle_connection,
                        self.host,
                        self.port,
                        limit=256 * 1024,
                        backlog=1024,
                        reuse_address=True,
                    )
                )
                self.port = self._listener.sockets[0].getsockname()[1]
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-upstream:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        self._thread.name = f"fake-upstream:{self.port}"
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            if self._listener is not None:
                self._listener.close()
            for writer in list(self._server.writers):
                writer.transport.abort()
            loop.stop()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(shutdown)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<FakeUpstream {self.url}>"

    # ----------------------------------------------------------------- in-process control

    def configure(self, values: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Same as ``POST /_fake/config``; returns the resulting config."""
        return self.state.configure({**(values or {}), **kwargs})

    @property
    def config(self) -> dict[str, Any]:
        return self.state.configure({})

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Recorded API requests, oldest first (at most 1000)."""
        return self.state.snapshot()

    def clear(self) -> None:
        self.state.clear()

    def reset(self) -> None:
        """Default config, base models only, no recorded requests."""
        self.state.reset()

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 5.0
    ) -> Any:
        """Poll the recorded requests until ``predicate(requests)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.requests)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.01)


async def serve(
    host: str, port: int, state: State, ready: Callable[[str], None] | None = None
) -> None:
    """Serve ``state`` on the current loop until cancelled (the CLI's entry point)."""
    server = Server(state)
    listener = await asyncio.start_server(
        server.handle_connection, host, port, limit=256 * 1024, backlog=1024, reuse_address=True
    )
    bound = listener.sockets[0].getsockname()[1]
    if ready is not None:
        shown = f"[{host}]" if ":" in host else host
        ready(f"http://{shown}:{bound}")
    async with listener:
        await listener.serve_forever()
