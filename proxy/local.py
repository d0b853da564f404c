"""A workspace's own Ollama server (scope `local_model_access`): connect, list, disconnect.

The connection is the workspace's Upstream named `local` (kind ollama), pinned to the address
its host resolved to when it was checked (proxy.egress). Its tags become the workspace's
private models `local/<tag without :latest>`, each deployed on it. Other private models of the
workspace (fine-tunes) are left alone when the tags are synced; the `local/` prefix is this
module's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .credentials import encrypt
from .egress import Target, check, failed, fetch
from .errors import ApiError
from .models import Deployment, Model, Upstream, UpstreamKind
from .services import _kind_of

UPSTREAM_NAME = "local"
MODEL_PREFIX = "local/"
VERIFY_TIMEOUT = 5.0  # seconds for the /api/tags check
# Fine-tunes the gateway registers on an Ollama server are named `tollgate-…/<name>`
# (finetune.services.ollama_name); they are the workspace's models already, not `local/` ones.
REGISTERED_PREFIX = "tollgate-"
CALL_TIMEOUT = 300.0  # seconds for a call (a model may have to load first)
MAX_TAGS_BYTES = 2 * 1024 * 1024
MAX_MODELS = 500
MAX_API_KEY_LENGTH = 1000
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]{0,150}$")


@dataclass(frozen=True)
class Tag:
    name: str  # as Ollama lists it (llama3.2:latest)
    kind: str

    @property
    def model_name(self) -> str:
        return MODEL_PREFIX + self.name.removesuffix(":latest")


def connection_of(workspace_id: Any) -> Upstream | None:
    """The workspace's connection, if it has one (also where its fine-tunes register)."""
    return Upstream.objects.filter(workspace_id=workspace_id, name=UPSTREAM_NAME).first()


def local_models(upstream: Upstream) -> list[Model]:
    return list(
        Model.objects.filter(
            workspace_id=upstream.workspace_id, name__startswith=MODEL_PREFIX
        ).prefetch_related("deployments")
    )


def clean_api_key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_request_error", "api_key: expected a string", param="api_key")
    value = value.strip()
    if len(value) > MAX_API_KEY_LENGTH:
        raise ApiError(
            400,
            "invalid_request_error",
            f"api_key: at most {MAX_API_KEY_LENGTH} characters",
            param="api_key",
        )
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        raise ApiError(
            400,
            "invalid_request_error",
            "api_key: must not contain spaces or control characters",
            param="api_key",
        )
    return value or None


def list_tags(target: Target, api_key: str | None) -> list[Tag]:
    """GET /api/tags at the pinned address, the key as Bearer; 400 connection_failed unless it
    answers like Ollama."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    answer = fetch(
        target,
        "GET",
        "/api/tags",
        headers=headers,
        timeout=VERIFY_TIMEOUT,
        max_bytes=MAX_TAGS_BYTES,
    )
    shown = f"{target.base_url}/api/tags"
    if answer.status in (401, 403):
        raise failed(f"{shown} refused the request ({answer.status}): check api_key.")
    if answer.status != 200:
        raise failed(f"{shown} answered {answer.status}; expected Ollama's list of models.")
    try:
        listed = json.loads(answer.data).get("models")
    except (ValueError, AttributeError):
        listed = None
    if not isinstance(listed, list):
        raise failed(f"{shown} did not answer like Ollama (no `models` list).")
    tags: dict[str, Tag] = {}
    for item in listed:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and _TAG.match(name) and not name.startswith(REGISTERED_PREFIX):
            tag = Tag(name, _kind_of(item))
            tags.setdefault(tag.model_name, tag)
    if len(tags) > MAX_MODELS:
        raise failed(f"{shown} lists more than {MAX_MODELS} models.")
    return list(tags.values())


def connect(workspace_id: Any, base_url: object, api_key: object = None) -> Upstream:
    """Check the URL, ask the server for its models (at the pinned address, no redirect), then
    save the connection and its models in one transaction. Nothing is written unless the server
    answered. A second call replaces the first (URL, key and models)."""
    key = clean_api_key(api_key)
    target = check(base_url)
    tags = list_tags(target, key)
    try:
        return _save(workspace_id, target, key, tags)
    except IntegrityError:  # a concurrent first PUT of the same workspace won
        raise ApiError(
            409, "conflict", "The connection was being changed at the same time; try again."
        ) from None


def _save(workspace_id: Any, target: Target, key: str | None, tags: list[Tag]) -> Upstream:
    with transaction.atomic():
        upstream = (
            Upstream.objects.select_for_update()
            .filter(workspace_id=workspace_id, name=UPSTREAM_NAME)
            .first()
        ) or Upstream(workspace_id=workspace_id, name=UPSTREAM_NAME)
        upstream.kind = UpstreamKind.OLLAMA
        upstream.base_url = target.base_url
        upstream.pinned_address = target.address
        upstream.api_keys = [encrypt(key)] if key else []
        upstream.timeout = CALL_TIMEOUT
        upstream.verified_at = timezone.now()
        upstream.save()
        sync_models(upstream, tags)
    return upstream


def sync_models(upstream: Upstream, tags: list[Tag]) -> None:
    """The workspace's `local/*` models are exactly the server's tags, each deployed there."""
    wanted = {tag.model_name: tag for tag in tags}
    existing = {m.name: m for m in local_models(upstream)}
    gone = [m.pk for name, m in existing.items() if name not in wanted]
    if gone:
        Model.objects.filter(pk__in=gone).delete()
    for name, tag in wanted.items():
        model = existing.get(name)
        if model is None:
            model = Model.objects.create(
                workspace_id=upstream.workspace_id,
                name=name,
                kind=tag.kind,
                description=f"{tag.name} on your own Ollama",
            )
        elif model.kind != tag.kind or not model.is_active:
            model.kind, model.is_active = tag.kind, True
            model.save(update_fields=["kind", "is_active"])
        deployments = list(model.deployments.all())
        if [(d.upstream_id, d.upstream_model, d.is_active) for d in deployments] != [
            (upstream.pk, tag.name, True)
        ]:
            Deployment.objects.filter(model=model).delete()
            Deployment.objects.create(model=model, upstream=upstream, upstream_model=tag.name)


@transaction.atomic
def disconnect(workspace_id: Any) -> bool:
    """Remove the connection, its `local/*` models and every deployment on it (fine-tunes
    registered there keep their catalog entry but have nowhere to run). False if none."""
    upstream = connection_of(workspace_id)
    if upstream is None:
        return False
    Model.objects.filter(workspace_id=workspace_id, name__startswith=MODEL_PREFIX).delete()
    upstream.delete()
    return True


def describe(upstream: Upstream) -> dict[str, Any]:
    """The connection as the API shows it: never the key, only whether there is one."""
    models = []
    for model in local_models(upstream):
        deployment = next(iter(model.deployments.all()), None)
        models.append(
            {
                "id": model.name,
                "upstream_model": deployment.upstream_model if deployment else None,
                "kind": model.kind,
            }
        )
    return {
        "base_url": upstream.base_url,
        "address": upstream.pinned_address,
        "has_api_key": bool(upstream.api_keys),
        "active": upstream.is_active,
        "verified_at": upstream.verified_at.isoformat() if upstream.verified_at else None,
        "models": models,
    }
