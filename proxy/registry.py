"""An in-process snapshot of the catalog (models, deployments, upstreams) for the hot path.

Each process reloads its snapshot when the shared generation number changes (bumped by any save
in the catalog), checking it at most once a second; a request never queries the catalog tables.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from config.shared_cache import shared as cache

from .egress import call_url, target_of
from .errors import ApiError
from .providers.base import Pin, set_pins

log = logging.getLogger(__name__)

GENERATION_KEY = "catalog:gen"
CHECK_EVERY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class UpstreamInfo:
    """`base_url` is where calls go: for a customer's pinned server, a name that only this
    process's pin table resolves (to `pinned_address`; see proxy.providers.base)."""

    id: int
    name: str
    kind: str
    base_url: str
    api_keys: tuple[str, ...]
    timeout: float
    workspace_id: str | None
    pinned_address: str | None = None
    serves_responses: bool = False  # Responses calls go to its /v1/responses as they are


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    id: int
    upstream: UpstreamInfo
    upstream_model: str
    weight: int
    priority: int
    tiers: tuple[str, ...]

    def serves_tier(self, tier: str | None) -> bool:
        return not self.tiers or tier is None or tier in self.tiers


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: int
    name: str
    kind: str
    description: str
    context_window: int
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    quota_weight_offpeak: int
    quota_weight_peak: int
    capabilities: tuple[str, ...]
    aliases: tuple[str, ...]
    workspace_id: str | None
    created: int
    deployments: tuple[DeploymentInfo, ...] = field(default=())

    @property
    def on_own_upstream(self) -> bool:
        """Served by a workspace's own server (its Ollama): needs `local_model_access`."""
        return any(d.upstream.workspace_id is not None for d in self.deployments)

    @property
    def may_reason(self) -> bool:
        """False only when the catalog lists capabilities and `reasoning` is not among them."""
        return not self.capabilities or "reasoning" in self.capabilities


@dataclass
class Snapshot:
    generation: int
    public: dict[str, ModelInfo]
    private: dict[tuple[str, str], ModelInfo]  # (workspace_id, name)
    aliases: dict[str, ModelInfo]
    patterns: list[tuple[str, ModelInfo]]  # longest pattern first
    upstreams: dict[int, UpstreamInfo] = field(default_factory=dict)  # the active ones
    pins: dict[str, Pin] = field(default_factory=dict)  # pinned host name → where it goes

    def resolve(self, name: str, workspace_id: str | None) -> ModelInfo | None:
        """Exact name (the workspace's own first), then exact alias, then alias pattern."""
        if workspace_id is not None and (model := self.private.get((workspace_id, name))):
            return model
        if model := self.public.get(name):
            return model
        if model := self.aliases.get(name):
            return model
        for pattern, model in self.patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return model
        return None

    def visible_to(self, workspace_id: str | None) -> list[ModelInfo]:
        own = [m for (ws, _), m in self.private.items() if ws == workspace_id]
        return sorted([*self.public.values(), *own], key=lambda m: m.name)


def _is_pattern(alias: str) -> bool:
    return any(ch in alias for ch in "*?[")


def upstream_info(row: Any) -> tuple[UpstreamInfo, Pin | None]:
    """An upstream as calls use it, and its pin if it is a customer's pinned server."""
    base_url, pin = row.base_url.rstrip("/"), None
    if row.pinned_address:
        base_url, pin = call_url(row.pk, target_of(row.base_url, row.pinned_address))
    info = UpstreamInfo(
        id=row.pk,
        name=row.name,
        kind=row.kind,
        base_url=base_url,
        api_keys=tuple(row.api_keys),
        timeout=row.timeout,
        workspace_id=str(row.workspace_id) if row.workspace_id else None,
        pinned_address=row.pinned_address or None,
        serves_responses=row.serves_responses,
    )
    return info, pin


def load_snapshot(generation: int) -> Snapshot:
    from .models import Model, Upstream

    upstreams: dict[int, UpstreamInfo] = {}
    pins: dict[str, Pin] = {}
    for row in Upstream.objects.filter(is_active=True):
        try:
            upstreams[row.pk], pin = upstream_info(row)
        except ApiError:  # a stored URL that no longer parses: the upstream is unusable
            log.error("upstream %s has an unusable base_url; skipped", row.pk)
            continue
        if pin is not None:
            pins[urlsplit(upstreams[row.pk].base_url).hostname or ""] = pin
    models = Model.objects.filter(is_active=True).prefetch_related("deployments").order_by("name")
    public: dict[str, ModelInfo] = {}
    private: dict[tuple[str, str], ModelInfo] = {}
    aliases: dict[str, ModelInfo] = {}
    patterns: list[tuple[str, ModelInfo]] = []
    for row in models:
        deployments = tuple(
            DeploymentInfo(
                id=d.pk,
                upstream=upstreams[d.upstream_id],
                upstream_model=d.upstream_model,
                weight=d.weight,
                priority=d.priority,
                tiers=tuple(d.tiers),
            )
            for d in row.deployments.all()
            if d.is_active and d.upstream_id in upstreams
        )
        info = ModelInfo(
            id=row.pk,
            name=row.name,
            kind=row.kind,
            description=row.description,
            context_window=row.context_window,
            input_price_per_mtok=row.input_price_per_mtok,
            output_price_per_mtok=row.output_price_per_mtok,
            quota_weight_offpeak=row.quota_weight_offpeak,
            quota_weight_peak=row.quota_weight_peak,
            capabilities=tuple(row.capabilities),
            aliases=tuple(row.aliases),
            workspace_id=str(row.workspace_id) if row.workspace_id else None,
            created=int(row.created_at.timestamp()),
            deployments=deployments,
        )
        if info.workspace_id:
            private[(info.workspace_id, info.name)] = info
            continue
        public[info.name] = info
        for alias in info.aliases:
            if _is_pattern(alias):
                patterns.append((alias, info))
            else:
                aliases.setdefault(alias, info)
    patterns.sort(key=lambda item: len(item[0]), reverse=True)
    return Snapshot(generation, public, private, aliases, patterns, upstreams, pins)


class Registry:
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        current = self._snapshot
        if current is not None and now - self._checked_at < CHECK_EVERY_SECONDS:
            return current
        generation = cache.get_or_set(GENERATION_KEY, 1, timeout=None)
        if current is not None and current.generation == generation:
            self._checked_at = now
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = load_snapshot(generation)
                set_pins(self._snapshot.pins)
            self._checked_at = now
            return self._snapshot

    def invalidate(self) -> None:
        """The catalog changed: every process reloads within a second."""
        cache.bump(GENERATION_KEY)
        self._snapshot = None


registry = Registry()
