"""Ollama's model management API, as registration uses it: blobs, create, show, delete."""

from __future__ import annotations

import json
from typing import Any

from proxy.providers.base import UpstreamFailure, http, timeout_for
from proxy.providers.openai import read_answer
from proxy.registry import UpstreamInfo
from proxy.router import router

CREATE_TIMEOUT = 120.0
BLOB_TIMEOUT = 600.0  # an adapter of a large base model is hundreds of megabytes


class OllamaError(Exception):
    pass


class OllamaMissing(OllamaError):
    """404: no such model there."""


def _request(
    upstream: UpstreamInfo, method: str, path: str, body: dict | bytes | None, timeout: float
) -> bytes:
    """The answer's body, read within the upstream's answer caps (a customer's server is
    capped tighter: proxy.providers.base.caps_for). `body`: JSON, or a blob's bytes."""
    picked = router.pick_key(upstream)
    if isinstance(body, bytes | None):
        headers, payload = {"Content-Type": "application/octet-stream"}, body
    else:
        headers, payload = {"Content-Type": "application/json"}, json.dumps(body).encode()
    if picked and picked[1]:
        headers["Authorization"] = f"Bearer {picked[1]}"
    url = f"{upstream.base_url}{path}"
    try:
        response = http().request(
            method,
            url,
            body=payload,
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


def has_blob(upstream: UpstreamInfo, digest: str) -> bool:
    """HEAD /api/blobs/sha256:<hex>: 200 if the server has the blob, 404 if not."""
    try:
        _request(upstream, "HEAD", f"/api/blobs/{digest}", None, upstream.timeout)
    except OllamaMissing:
        return False
    return True


def push_blob(upstream: UpstreamInfo, digest: str, data: bytes) -> None:
    """POST /api/blobs/sha256:<hex> with the file's bytes (201; 400 if the digest differs)."""
    _request(upstream, "POST", f"/api/blobs/{digest}", data, BLOB_TIMEOUT)


def create(
    upstream: UpstreamInfo,
    name: str,
    base: str,
    artifact: dict[str, Any],
    adapters: dict[str, str] | None = None,
) -> None:
    """POST /api/create in its JSON form: the model `name` from `base` with the artifact's system
    prompt, example messages and parameters, and the LoRA adapter's blobs (`adapters`: file
    name → digest) for a lora job."""
    body: dict[str, Any] = {"model": name, "from": base, "stream": False}
    for field in ("system", "messages", "parameters"):
        if artifact.get(field):
            body[field] = artifact[field]
    if adapters:
        body["adapters"] = adapters
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
