"""Catalog operations on upstreams."""

from __future__ import annotations

import json

from django.db import transaction

from .egress import fetch, target_of
from .models import Deployment, Model, ModelKind, Upstream, UpstreamKind
from .providers.base import http, timeout_for


class ImportFailed(RuntimeError):
    pass


def ollama_tags(upstream: Upstream) -> list[dict]:
    """The models an Ollama server has (`GET /api/tags`)."""
    if upstream.kind != UpstreamKind.OLLAMA:
        raise ImportFailed(f"{upstream.name} is not an Ollama upstream")
    try:
        if upstream.pinned_address:  # a customer's server: only ever at its checked address
            target = target_of(upstream.base_url, upstream.pinned_address)
            response = fetch(target, "GET", "/api/tags", timeout=upstream.timeout)
        else:
            response = http().request(
                "GET",
                f"{upstream.base_url.rstrip('/')}/api/tags",
                timeout=timeout_for(upstream.timeout),
                redirect=False,
            )
        if response.status != 200:
            raise ImportFailed(f"{upstream.name}: /api/tags answered {response.status}")
        models = json.loads(response.data).get("models", [])
    except ImportFailed:
        raise
    except Exception as exc:  # any network or format problem is reported the same way
        raise ImportFailed(f"{upstream.name}: cannot list models ({type(exc).__name__})") from exc
    return [m for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _kind_of(tag: dict) -> str:
    families = (tag.get("details") or {}).get("families") or []
    name = tag["name"].lower()
    return ModelKind.EMBEDDING if "embed" in name or "bert" in families else ModelKind.CHAT


@transaction.atomic
def import_ollama_models(upstream: Upstream) -> list[str]:
    """Add a model and a deployment for every tag the server has that the catalog lacks.
    `llama3.2:latest` becomes the public name `llama3.2`. Returns the names added."""
    added = []
    for tag in ollama_tags(upstream):
        name = tag["name"].removesuffix(":latest")
        model, created = Model.objects.get_or_create(
            name=name, workspace=upstream.workspace, defaults={"kind": _kind_of(tag)}
        )
        _, deployed = Deployment.objects.get_or_create(
            model=model, upstream=upstream, upstream_model=tag["name"]
        )
        if created or deployed:
            added.append(name)
    return added
