"""Issuing, rotating and revoking API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from billing.models import SCOPES

from . import secrets
from .models import MAX_MONTHLY_CAP, ApiKey


class InvalidKeyRequest(ValueError):
    """A bad argument for a key operation (message is user-facing)."""


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


def plan_scopes(workspace: Workspace) -> list[str]:
    subscription = getattr(workspace, "subscription", None)
    return list(subscription.plan.scopes) if subscription else []


def _check_scopes(workspace: Workspace, scopes: list[str] | None) -> list[str]:
    allowed = plan_scopes(workspace)
    if scopes is None:
        return allowed
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidKeyRequest(f"unknown scope {unknown[0]!r}; known scopes: {', '.join(SCOPES)}")
    outside = [s for s in scopes if s not in allowed]
    if outside:
        raise InvalidKeyRequest(
            f"scope {outside[0]!r} is not in the workspace's plan (allowed: {', '.join(allowed) or 'none'})"
        )
    if not scopes:
        raise InvalidKeyRequest("a key needs at least one scope")
    return list(dict.fromkeys(scopes))


def issue_key(
    workspace: Workspace,
    name: str,
    *,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    model_patterns: list[str] | None = None,
    rpm_limit: int | None = None,
    default_tier: str = "",
    created_by: Any = None,
    all_plan_scopes: bool = False,
    monthly_cap: Decimal | None = None,
) -> IssuedKey:
    name = (name or "").strip()
    if not name:
        raise InvalidKeyRequest("name: must not be empty")
    if len(name) > 100:
        raise InvalidKeyRequest("name: at most 100 characters")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidKeyRequest("expires_at: must be in the future")
    if rpm_limit is not None and rpm_limit < 1:
        raise InvalidKeyRequest("rpm_limit: must be a positive integer")
    secret = secrets.generate()
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        prefix=secrets.lookup_prefix(secret),
        secret_hash=secrets.hash_secret(secret),
        last4=secret[-4:],
        scopes=_check_scopes(workspace, None if all_plan_scopes else scopes),
        all_plan_scopes=all_plan_scopes,
        expires_at=expires_at,
        model_patterns=list(model_patterns or []),
        rpm_limit=rpm_limit,
        monthly_cap=monthly_cap,
        default_tier=default_tier,
        created_by=created_by,
    )
    return IssuedKey(key=key, secret=secret)


@transaction.atomic
def rotate_key(key: ApiKey, *, grace_seconds: int | None = None, by: Any = None) -> IssuedKey:
    """A successor with the same settings; the old key works until the grace deadline."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status() in ("revoked", "expired"):
        raise InvalidKeyRequest("a revoked or expired key cannot be rotated")
    if key.replaced_by_id is not None:
        raise InvalidKeyRequest("this key has already been rotated")
    if grace_seconds is None:
        grace_seconds = settings.API_KEY_ROTATION_GRACE_SECONDS
    if grace_seconds < 0:
        raise InvalidKeyRequest("grace_seconds: must be 0 or more")
    successor = issue_key(
        key.workspace,
        key.name,
        scopes=[s for s in key.scopes if s in plan_scopes(key.workspace)] or None,
        expires_at=key.expires_at,
        model_patterns=key.model_patterns,
        rpm_limit=key.rpm_limit,
        default_tier=key.default_tier,
        created_by=by or key.created_by,
        all_plan_scopes=key.all_plan_scopes,
        monthly_cap=key.monthly_cap,  # (the successor's month starts from nothing spent)
    )
    deadline = timezone.now() + timedelta(seconds=grace_seconds)
    key.expires_at = deadline if key.expires_at is None else min(key.expires_at, deadline)
    key.replaced_by = successor.key
    key.save(update_fields=["expires_at", "replaced_by"])
    return successor


def key_scopes(key: ApiKey) -> list[str]:
    """What the key may do now: the plan's scopes for a key that follows its plan, else the
    key's own that its plan still grants."""
    allowed = plan_scopes(key.workspace)
    if key.all_plan_scopes:
        return allowed
    return [s for s in key.scopes if s in allowed]


def set_key_scopes(key: ApiKey, scopes: list[str] | None, *, all_plan_scopes: bool) -> ApiKey:
    """Give a key other scopes of its plan, or all of them (then it follows the plan: scopes a
    plan change adds are the key's too). Takes effect within seconds, as a revocation does."""
    if key.status() in ("revoked", "expired"):
        raise InvalidKeyRequest("a revoked or expired key cannot be changed")
    key.scopes = _check_scopes(key.workspace, None if all_plan_scopes else scopes)
    key.all_plan_scopes = all_plan_scopes
    key.save(update_fields=["scopes", "all_plan_scopes"])
    return key


def set_key_monthly_cap(key: ApiKey, cap: Decimal | None) -> ApiKey:
    """What the key may spend per month, in its plan's unit (None: no cap). Enforced at
    admission within seconds everywhere, as a scope change is; counts what the key already
    spent this month."""
    if key.status() in ("revoked", "expired"):
        raise InvalidKeyRequest("a revoked or expired key cannot be changed")
    if cap is not None and not (0 <= cap <= MAX_MONTHLY_CAP):
        raise InvalidKeyRequest(f"monthly_cap: must be between 0 and {MAX_MONTHLY_CAP:,}")
    key.monthly_cap = cap
    key.save(update_fields=["monthly_cap"])
    return key


def revoke_key(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
