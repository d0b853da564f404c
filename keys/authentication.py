"""API-key authentication: one DRF class, and a resolver cached so that a valid key costs no
database query on the hot path.

Two cache levels: a small per-process table trusted for API_KEY_LOCAL_CACHE_SECONDS (5 s), over
the shared cache (Redis in production) whose entries are deleted when a key changes and orphaned
when any plan or subscription changes (a generation number is part of their name). A revoked
key therefore stops working in every process within 5 seconds.
"""

from __future__ import annotations

import hmac
import threading
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from config import dbprobe
from config.shared_cache import shared as cache
from proxy.errors import ApiError

from . import secrets
from .models import ApiKey
from .principal import PlanLimits, Principal

GENERATION_KEY = "authkey:gen"
_MISSING = object()


def extract_secret(meta: dict[str, Any]) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key` or `x-api-key`. Never the query string."""
    authorization = meta.get("HTTP_AUTHORIZATION", "")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    header = meta.get("HTTP_X_API_KEY", "").strip()
    return header or None


def plan_limits(plan: Any) -> PlanLimits | None:
    if plan is None:
        return None
    return PlanLimits(
        code=plan.code,
        scopes=tuple(plan.scopes),
        monthly_credits=plan.monthly_credits,
        requests_per_5h=plan.requests_per_5h,
        requests_per_week=plan.requests_per_week,
        rpm=plan.rpm,
        tpm=plan.tpm,
        max_concurrency=plan.max_concurrency,
        model_patterns=tuple(plan.model_patterns),
        tiers=tuple(plan.tiers),
        prepaid=plan.prepaid,
    )


def principal_from_key(key: ApiKey) -> Principal:
    subscription = getattr(key.workspace, "subscription", None)
    plan = subscription.plan if subscription else None
    return Principal(
        key_id=str(key.pk),
        key_name=key.name,
        workspace_id=str(key.workspace_id),
        key_scopes=tuple(key.scopes),
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        revoked=key.revoked_at is not None,
        subscription_active=bool(subscription and subscription.is_active),
        plan=plan_limits(plan),
        key_model_patterns=tuple(key.model_patterns),
        key_rpm=key.rpm_limit,
        default_tier=key.default_tier,
        period_anchor=subscription.current_period_start.timestamp() if subscription else None,
        all_plan_scopes=key.all_plan_scopes,
        key_monthly_cap=cap_in_counter_unit(key.monthly_cap, plan),
    )


def cap_in_counter_unit(cap: Decimal | None, plan: Any) -> int | None:
    """A key's monthly cap as its counter counts: micro-dollars on a prepaid plan, else whole
    credits (a fraction of a credit can never be spent)."""
    if cap is None:
        return None
    if plan is not None and plan.prepaid:
        return int(Decimal(cap) * 1_000_000)
    return int(cap)


def workspace_principal(workspace: Any) -> Principal:
    """The workspace itself, with every scope of its plan and no key: what the dashboard reads
    the workspace's limits and models as (it never calls the gateway with it)."""
    subscription = getattr(workspace, "subscription", None)
    plan = subscription.plan if subscription else None
    return Principal(
        key_id="",
        key_name="",
        workspace_id=str(workspace.pk),
        key_scopes=tuple(plan.scopes) if plan else (),
        expires_at=None,
        revoked=False,
        subscription_active=bool(subscription and subscription.is_active),
        plan=plan_limits(plan),
        period_anchor=subscription.current_period_start.timestamp() if subscription else None,
    )


def _version_key(secret_hash: str) -> str:
    return f"authkey:ver:{secret_hash}"


def shared_cache_key(secret_hash: str) -> str:
    """The shared entry's name carries the catalog-wide generation and the key's own version,
    both read before the database is: a reader that loaded a row just before a change writes
    under a name no later reader uses, so a revocation cannot be undone by a slow reader."""
    found = cache.get_many([GENERATION_KEY, _version_key(secret_hash)])
    generation = found.get(GENERATION_KEY) or cache.get_or_set(GENERATION_KEY, 1, timeout=None)
    return f"authkey:{generation}:{found.get(_version_key(secret_hash), 0)}:{secret_hash}"


def forget_key(secret_hash: str) -> None:
    """Orphan one key's shared entry and drop this process's (key revoked, rotated or edited)."""
    cache.bump(_version_key(secret_hash))
    resolver.forget(secret_hash)


def forget_all_keys() -> None:
    """Orphan every shared entry at once, and drop this process's (a plan or subscription
    changed); other processes follow within API_KEY_LOCAL_CACHE_SECONDS."""
    cache.bump(GENERATION_KEY)
    resolver.clear()


class KeyResolver:
    """Secret → Principal (or None for an unknown key), cached per process and shared."""

    def __init__(self, local_seconds: float | None = None, max_entries: int = 50_000) -> None:
        self.local_seconds = (
            settings.API_KEY_LOCAL_CACHE_SECONDS if local_seconds is None else local_seconds
        )
        self.max_entries = max_entries
        self._local: dict[str, tuple[float, Any]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def resolve(self, secret: str) -> Principal | None:
        secret_hash = secrets.hash_secret(secret)
        now = time.time()
        hit = self._local.get(secret_hash)
        if hit is not None and now - hit[0] < self.local_seconds:
            return hit[1]
        principal = self._from_shared_cache(secret_hash, secret)
        with self._lock:
            if len(self._local) >= self.max_entries:
                self._local.clear()
            self._local[secret_hash] = (now, principal)
        return principal

    def _from_shared_cache(self, secret_hash: str, secret: str) -> Principal | None:
        name = shared_cache_key(secret_hash)
        cached = cache.get(name, _MISSING)
        if cached is not _MISSING:
            return cached
        principal = self._from_database(secret_hash, secret)
        if principal is not None:  # unknown keys are remembered only locally
            cache.set(name, principal, timeout=settings.API_KEY_SHARED_CACHE_SECONDS)
        return principal

    @staticmethod
    def _from_database(secret_hash: str, secret: str) -> Principal | None:
        candidates = ApiKey.objects.select_related("workspace__subscription__plan").filter(
            prefix=secrets.lookup_prefix(secret)
        )
        for key in candidates:
            if hmac.compare_digest(key.secret_hash, secret_hash):
                return principal_from_key(key)
        return None

    def touch(self, principal: Principal) -> None:
        """Record last use at most once a minute per key, across all processes."""
        now = time.time()
        if now - self._touched.get(principal.key_id, 0.0) < 60:
            return
        self._touched[principal.key_id] = now
        name = f"authkey:used:{principal.key_id}"
        if now - (cache.get(name) or 0.0) < 60:  # another process wrote it this minute
            return
        cache.set(name, now, timeout=120)
        ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())

    def forget(self, secret_hash: str) -> None:
        self._local.pop(secret_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._local.clear()
            self._touched.clear()


resolver = KeyResolver()


def authenticate_secret(secret: str | None, key_resolver: KeyResolver | None = None) -> Principal:
    """The whole check, in order; raises ApiError with the exact status and code."""
    if not secret:
        raise ApiError(
            401,
            "invalid_api_key",
            "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        )
    if not secrets.is_well_formed(secret):
        raise ApiError(401, "invalid_api_key", "Invalid API key.")
    key_resolver = key_resolver or resolver
    principal = key_resolver.resolve(secret)
    if principal is None:
        raise ApiError(401, "invalid_api_key", "Invalid API key.")
    if principal.revoked:
        raise ApiError(401, "invalid_api_key", "This API key has been revoked.")
    if principal.is_expired(time.time()):
        raise ApiError(401, "invalid_api_key", "This API key has expired.")
    if not principal.subscription_active:
        raise ApiError(
            403,
            "no_active_subscription",
            "The workspace of this API key has no active subscription.",
        )
    key_resolver.touch(principal)
    return principal


class ApiKeyAuthentication(BaseAuthentication):
    """DRF authentication for every API endpoint. Sets request.auth to a Principal. With the
    database away (config.dbprobe) every API call is 503 database_unavailable at once, not after
    the pool's timeout: usage, redemption, agents and fine-tuning as well as the gateway's."""

    def authenticate(self, request: Any) -> tuple[Principal, Principal]:
        dbprobe.require()
        principal = authenticate_secret(extract_secret(request.META))
        return principal, principal

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
