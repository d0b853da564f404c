"""OpenAI's HTTP API (`openai` kind), and Ollama's OpenAI-compatible /v1 (`ollama` kind)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from .base import CONNECT_TIMEOUT, Provider, UpstreamFailure, UpstreamStream, session


def _headers(key: str | None, stream: bool) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _client_message(response: requests.Response) -> str:
    """An upstream 4xx's message, for the client (only for statuses that are the client's fault)."""
    try:
        error = response.json().get("error")
    except ValueError:
        return f"The upstream rejected the request ({response.status_code})."
    if isinstance(error, dict):
        return str(error.get("message") or error)[:1000]
    return (
        str(error)[:1000]
        if error
        else f"The upstream rejected the request ({response.status_code})."
    )


def _check_status(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    status = response.status_code
    client_message = None
    if 400 <= status < 500 and status not in (401, 402, 403, 429):
        client_message = _client_message(response)
    response.close()
    raise UpstreamFailure(
        "status",
        f"upstream answered {status}",
        status=status,
        retry_after=_retry_after(response),
        client_message=client_message,
    )


def post(
    url: str, key: str | None, body: dict, *, stream: bool, timeout: float
) -> requests.Response:
    try:
        response = session().post(
            url,
            data=json.dumps(body, separators=(",", ":")),
            headers=_headers(key, stream),
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            stream=stream,
            allow_redirects=False,
        )
    except requests.exceptions.ConnectTimeout as exc:
        raise UpstreamFailure("connect", "could not connect to the upstream (timeout)") from exc
    except requests.exceptions.ConnectionError as exc:
        if isinstance(exc, requests.exceptions.ReadTimeout):
            raise UpstreamFailure("timeout", "the upstream did not answer in time") from exc
        raise UpstreamFailure("connect", "could not connect to the upstream") from exc
    except requests.exceptions.Timeout as exc:
        raise UpstreamFailure("timeout", "the upstream did not answer in time") from exc
    _check_status(response)
    return response


def read_json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except (ValueError, requests.exceptions.RequestException) as exc:
        if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
            raise UpstreamFailure("timeout", "the upstream stopped answering") from exc
        raise UpstreamFailure("protocol", "the upstream answered with invalid JSON") from exc
    if not isinstance(body, dict):
        raise UpstreamFailure("protocol", "the upstream answered with a non-object JSON body")
    if "error" in body and "choices" not in body and "data" not in body:
        raise UpstreamFailure("protocol", "the upstream answered 200 with an error body")
    return body


def sse_events(response: requests.Response) -> Iterator[dict[str, Any]]:
    """Parse `data:` lines into dicts until `[DONE]`; an in-stream error becomes a failure."""
    try:
        for raw in response.iter_lines(chunk_size=None):
            if not raw or not raw.startswith(b"data:"):
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
    except requests.exceptions.RequestException as exc:
        if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
            kind = "timeout" if "timed out" in str(exc).lower() else "connect"
            raise UpstreamFailure(kind, "the upstream stream broke off") from exc
        raise UpstreamFailure("protocol", "the upstream stream broke off") from exc
    raise UpstreamFailure("protocol", "the upstream stream ended without [DONE]")


class OpenAIProvider(Provider):
    """base_url is the API root including its version, e.g. https://api.openai.com/v1."""

    api_root = ""

    def _url(self, base_url: str, path: str) -> str:
        return f"{base_url.rstrip('/')}{self.api_root}{path}"

    def _call(
        self, path: str, base_url: str, key: str | None, body: dict, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
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


class OllamaProvider(OpenAIProvider):
    """Ollama: base_url is the server root (http://host:11434); calls go to its /v1 API."""

    api_root = "/v1"
