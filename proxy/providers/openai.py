"""OpenAI's HTTP API (`openai` kind), and Ollama's OpenAI-compatible /v1 (`ollama` kind)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from urllib3 import BaseHTTPResponse
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from .base import (
    OUTPUT_CAP,
    AnswerCaps,
    Provider,
    UpstreamFailure,
    UpstreamStream,
    caps_for,
    http,
    public,
    timeout_for,
    too_large,
)

ERROR_BODY_BYTES = 64 * 1024  # of an upstream's 4xx answer, read for its message
_CAPS = "tollgate_caps"  # the attribute of a response that holds its AnswerCaps


def _headers(key: str | None, stream: bool) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _retry_after(response: BaseHTTPResponse) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _client_message(status: int, data: bytes) -> str:
    """An upstream 4xx's message, for the client (only for statuses that are the client's fault)."""
    fallback = f"The upstream rejected the request ({status})."
    try:
        error = json.loads(data).get("error")
    except (ValueError, AttributeError):
        return fallback
    if isinstance(error, dict):
        return str(error.get("message") or fallback)[:1000]
    return str(error)[:1000] if error else fallback


def translate(exc: Exception, doing: str) -> UpstreamFailure:
    """urllib3's exceptions as our failure kinds."""
    if isinstance(exc, ConnectTimeoutError | NewConnectionError):
        return UpstreamFailure("connect", "could not connect to the upstream")
    if isinstance(exc, ReadTimeoutError):
        return UpstreamFailure("timeout", f"the upstream did not answer in time ({doing})")
    if isinstance(exc, ProtocolError):
        return UpstreamFailure("connect", f"the upstream connection broke ({doing})")
    return UpstreamFailure("protocol", f"the upstream call failed ({doing}: {type(exc).__name__})")


def post(
    url: str,
    key: str | None,
    body: dict,
    *,
    stream: bool,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> BaseHTTPResponse:
    """POST JSON; `headers` replace the OpenAI-style ones (Bearer key) for other wire formats.
    The answer is left unread: read it with `read_body` or `lines`, within its caps."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    for attempt in (1, 2):
        try:
            response = http().request(
                "POST",
                url,
                body=payload,
                headers=headers or _headers(key, stream),
                timeout=timeout_for(timeout),
                preload_content=False,
                redirect=False,
            )
            break
        except ProtocolError as exc:
            # Most often a pooled keep-alive connection the upstream had already closed: one
            # more try on a fresh connection, before it counts as the deployment's failure.
            if attempt == 2:
                raise translate(exc, "sending") from exc
        except (HTTPError, OSError) as exc:
            raise translate(exc, "sending") from exc
    setattr(response, _CAPS, caps_for(url))
    if response.status >= 400:
        _fail(response)
    return response


def _caps(response: BaseHTTPResponse) -> AnswerCaps:
    caps = getattr(response, _CAPS, None)
    return caps if isinstance(caps, AnswerCaps) else caps_for("")


def _read_at_most(response: BaseHTTPResponse, limit: int) -> tuple[bytes, bool]:
    """The body as it arrives, up to `limit` bytes; and whether it all fit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def read_answer(response: BaseHTTPResponse, url: str) -> bytes:
    """The body of an answer from `url` fetched with preload_content=False, within the caps of
    its kind of upstream (operator's or customer's); a protocol failure naming the cap."""
    setattr(response, _CAPS, caps_for(url))
    return read_body(response)


def read_body(response: BaseHTTPResponse) -> bytes:
    """A non-streamed answer's body, read within its cap (a 502-bound failure naming the cap
    when it is larger); the connection goes back to the pool only when it was read whole."""
    caps = _caps(response)
    whole = False
    try:
        data, whole = _read_at_most(response, caps.body)
    except (HTTPError, OSError) as exc:
        raise translate(exc, "reading") from exc
    finally:
        if whole:
            response.release_conn()
        else:
            response.close()
    if not whole:
        raise too_large("answer", caps.body, caps.body_setting)
    return data


def _fail(response: BaseHTTPResponse) -> None:
    status = response.status
    data = b""
    try:
        if status < 500:
            data, whole = _read_at_most(response, ERROR_BODY_BYTES)
            if not whole:
                response.close()  # the rest is never read: the connection is not reusable
        else:  # unread, the body would be taken for the answer to the connection's next call
            response.drain_conn()
    except (HTTPError, OSError):
        data = b""
    finally:
        response.release_conn()
    client_message = None
    if 400 <= status < 500 and status not in (401, 402, 403, 404, 405, 429):
        client_message = _client_message(status, data)
    raise UpstreamFailure(
        "status",
        f"upstream answered {status}",
        status=status,
        retry_after=_retry_after(response),
        client_message=client_message,
    )


def read_json(response: BaseHTTPResponse) -> dict:
    try:
        body = json.loads(read_body(response))
    except ValueError as exc:
        raise UpstreamFailure("protocol", "the upstream answered with invalid JSON") from exc
    if not isinstance(body, dict):
        raise UpstreamFailure("protocol", "the upstream answered with a non-object JSON body")
    if "error" in body and "choices" not in body and "data" not in body:
        raise UpstreamFailure("protocol", "the upstream answered 200 with an error body")
    return body


def lines(response: BaseHTTPResponse) -> Iterator[bytes]:
    """The response body's lines, each as soon as it has arrived. Linear in the body's size
    however long a line is (a line's pieces are joined once, when its end arrives); a line
    longer than the line cap, or a body longer than the body cap, is a failure naming it."""
    caps = _caps(response)
    pieces: list[bytes] = []  # the start of a line whose end has not arrived yet
    pending = 0
    total = 0
    while True:
        data = response.read1(65536)
        if not data:
            break
        total += len(data)
        if total > caps.body:
            raise too_large("stream", caps.body, caps.body_setting)
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            if pending + end - start > caps.line:
                raise too_large("stream line", caps.line, caps.line_setting)
            if pieces:
                pieces.append(data[start:end])
                yield b"".join(pieces)
                pieces, pending = [], 0
            else:
                yield data[start:end]
            start = end + 1
        if start < len(data):
            pieces.append(data[start:])
            pending += len(data) - start
            if pending > caps.line:
                raise too_large("stream line", caps.line, caps.line_setting)
    if pieces:
        yield b"".join(pieces)


def sse_events(
    response: BaseHTTPResponse, last: Callable[[dict[str, Any]], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """Parse `data:` lines into dicts until `[DONE]` (or an event that is `last`, for formats
    without [DONE]); an in-stream error becomes a failure."""
    try:
        for raw in lines(response):
            if not raw.startswith(b"data:"):
                continue
            data = raw[5:].strip()
            if data == b"[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError as exc:
                raise UpstreamFailure(
                    "protocol", "the upstream sent an invalid stream event"
                ) from exc
            if isinstance(event, dict) and "error" in event and "choices" not in event:
                raise UpstreamFailure("protocol", "the upstream reported an error mid-stream")
            yield event
            if last is not None and last(event):
                return
    except (HTTPError, OSError) as exc:
        raise translate(exc, "streaming") from exc
    raise UpstreamFailure("protocol", "the upstream stream ended before its last event")


class OpenAIProvider(Provider):
    """base_url is the API root including its version, e.g. https://api.openai.com/v1."""

    api_root = ""

    def _url(self, base_url: str, path: str) -> str:
        return f"{base_url.rstrip('/')}{self.api_root}{path}"

    def _call(
        self, path: str, base_url: str, key: str | None, body: dict, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        body = public(body)
        response = post(self._url(base_url, path), key, body, stream=stream, timeout=timeout)
        if not stream:
            return read_json(response)
        return UpstreamStream(sse_events(response), response)

    def chat(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        return self._call("/chat/completions", base_url, key, body, stream, timeout)

    def completion(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        return self._call("/completions", base_url, key, body, stream, timeout)

    def embeddings(self, base_url: str, key: str | None, body: dict, *, timeout: float) -> dict:
        result = self._call("/embeddings", base_url, key, body, False, timeout)
        assert isinstance(result, dict)
        return result

    def responses(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        """The client's Responses body to the upstream's own /responses, its answer as
        canonical results or chunks carrying the native form (proxy.dialects.responses.native)."""
        from ..dialects.responses import native

        payload = native.native_body(body)
        cap = body.get(OUTPUT_CAP)  # a prepaid hold's output, as Responses names it
        asked = payload.get("max_output_tokens")
        if isinstance(cap, int) and not (isinstance(asked, int) and 0 < asked <= cap):
            payload["max_output_tokens"] = cap
        response = post(
            self._url(base_url, "/responses"), key, payload, stream=stream, timeout=timeout
        )
        if not stream:
            try:
                data = json.loads(read_body(response))
            except ValueError as exc:
                raise UpstreamFailure(
                    "protocol", "the upstream answered with invalid JSON"
                ) from exc
            if not isinstance(data, dict) or data.get("error") or "output" not in data:
                raise UpstreamFailure("protocol", "the upstream answered 200 with an error body")
            return native.native_result(data)

        def events() -> Iterator[dict[str, Any]]:
            for event in sse_events(response, last=native.is_last):
                if native.is_failure(event):
                    raise UpstreamFailure("protocol", "the upstream reported an error mid-stream")
                yield native.native_chunk(event)

        return UpstreamStream(events(), response)


class OllamaProvider(OpenAIProvider):
    """Ollama: base_url is the server root (http://host:11434); calls go to its /v1 API."""

    api_root = "/v1"
