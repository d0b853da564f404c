"""Ollama's model management API, as registration uses it: create, show, delete."""

from __future__ import annotations

import json
from typing import Any

from proxy.providers.base import UpstreamFailure, http, timeout_for
from proxy.providers.openai import read_answer
from proxy.registry import UpstreamInfo
from proxy.router import router

CREATE_TIMEOUT = 120.0


class OllamaError(Exception):
    pass


class OllamaMissing(OllamaError):
    """404: no such model there."""


def _request(upstream: UpstreamInfo, method: str, path: str, body: dict, timeout: float) -> bytes:
    """The answer's body, read within the upstream's answer caps (a customer's server is
    capped tighter: proxy.providers.base.caps_for)."""
    picked = router.pick_key(upstream)
    headers = {"Content-Type": "application/json"}
    if picked and picked[1]:
        headers["Authorization"] = f"Bearer {picked[1]}"
    url = f"{upstream.base_url}{path}"
    try:
        response = http().request(
            method,
            url,
            body=json.dumps(body).encode(),
            headers=headers,
            timeout=timeout_for(timeout),
            redirect=False,
            preload_content=False,
        )
        data = read_answer(response, url)
    except UpstreamFailure as exc:
        raise OllamaError(f"{path} failed ({exc.message})") from exc
    except Exception as exc:  # any network failure is reported the same way
        raise OllamaError(f"{path} failed ({type(exc).__name__})") from exc
    if response.status >= 300:
        failure = OllamaMissing if response.status == 404 else OllamaError
        raise failure(f"{path} answered {response.status}: {_message(data)}")
    return data


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("error") or "")[:300]
    except (ValueError, AttributeError):
        return ""


def create(upstream: UpstreamInfo, name: str, base: str, artifact: dict[str, Any]) -> None:
    """POST /api/create in its JSON form: the model `name` from `base` with the artifact's system
    prompt, example messages and parameters."""
    body: dict[str, Any] = {"model": name, "from": base, "stream": False}
    for field in ("system", "messages", "parameters"):
        if artifact.get(field):
            body[field] = artifact[field]
    data = _request(upstream, "POST", "/api/create", body, CREATE_TIMEOUT)
    try:
        status = json.loads(data).get("status")
    except (ValueError, AttributeError):
        status = None
    if status != "success":
        raise OllamaError(f"/api/create did not report success ({status!r})")


def show(upstream: UpstreamInfo, name: str) -> dict[str, Any]:
    data = _request(upstream, "POST", "/api/show", {"model": name}, upstream.timeout)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise OllamaError("/api/show answered with invalid JSON") from exc


def delete(upstream: UpstreamInfo, name: str) -> None:
    _request(upstream, "DELETE", "/api/delete", {"model": name}, upstream.timeout)
