"""Subscriptions and catalog settings."""

from __future__ import annotations

import calendar
import time
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from config.shared_cache import shared as cache

from .models import CatalogSetting, Plan, Subscription, SubscriptionStatus

DEFAULT_SETTINGS: dict[str, Any] = {
    "default_plan": "trial_chat",
    "default_model": None,
    "timezone": None,  # None: settings.GATEWAY_TIMEZONE (env), Asia/Jakarta by default
    "peak_hours": "14:00-18:00",
    "endpoint_credits": {},
}
_SETTINGS_CACHE_KEY = "catalog:settings"


class NoDefaultPlan(RuntimeError):
    pass


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


_local_settings: tuple[float, dict[str, Any]] | None = None
LOCAL_SECONDS = 5.0  # a changed setting reaches every process within this time


def catalog_settings() -> dict[str, Any]:
    """Every catalog setting, defaults filled in. Read on every call, so held in the process
    for a few seconds over the shared cache, which is dropped when a setting changes."""
    global _local_settings
    now = time.monotonic()
    if _local_settings is not None and now - _local_settings[0] < LOCAL_SECONDS:
        return _local_settings[1]
    values = cache.get(_SETTINGS_CACHE_KEY)
    if values is None:
        values = dict(DEFAULT_SETTINGS)
        values.update(CatalogSetting.objects.values_list("key", "value"))
        cache.set(_SETTINGS_CACHE_KEY, values, timeout=300)
    _local_settings = (now, values)
    return values


def forget_catalog_settings() -> None:
    global _local_settings
    cache.delete(_SETTINGS_CACHE_KEY)
    _local_settings = None


def default_plan() -> Plan:
    code = catalog_settings()["default_plan"]
    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise NoDefaultPlan(
            f"The default plan {code!r} does not exist: run `python manage.py apply_catalog "
            "config/catalog.yaml` (the run command does this)."
        )
    return plan


@transaction.atomic
def subscribe(workspace: Workspace, plan: Plan, *, now: datetime | None = None) -> Subscription:
    """Put the workspace on `plan`, starting a new monthly period now."""
    now = now or timezone.now()
    subscription, _ = Subscription.objects.update_or_create(
        workspace=workspace,
        defaults={
            "plan": plan,
            "status": SubscriptionStatus.ACTIVE,
            "current_period_start": now,
            "current_period_end": add_months(now, 1),
        },
    )
    return subscription
