"""Counters that Redis lost (a cold start, a flush, a failover without persistence) are rebuilt
from the usage records in PostgreSQL before the first admission that needs them: the 5-hour
window's events, the week's quota units, the period's monthly credits and what the key spent in
the period (credits, or money on a prepaid plan: its cap counts it). Each process checks
once per workspace and window; a rebuilt key is written with SET NX, so a concurrent rebuild or
a call that got there first is never overwritten. The per-minute windows are too short to need
it. (Usage still in the Redis stream is lost with it; production Redis runs with AOF.)"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Sum

from . import prepaid
from .models import UsageRecord

_checked: set[tuple[str, ...]] = set()
_lock = threading.Lock()


def ensure_counters(
    client: Any,
    keys: list[str],
    workspace_id: str,
    moment: datetime,
    week_start: datetime,
    period_start: datetime,
    *,
    scope: str = "",
    key_id: str = "",
    key_in_money: bool = False,
) -> None:
    """`scope` names the store when it is not the usual one (the in-process counters that stand
    in for Redis during an outage), so each is checked once."""
    marker = (scope, workspace_id, keys[2], keys[8], *keys[10:11])
    if marker in _checked:
        return
    q5h_events, q5h_sum, week, credits = keys[0], keys[1], keys[2], keys[8]
    present = client.exists(q5h_sum), client.exists(week), client.exists(credits)
    if len(keys) > 10 and key_id:
        _ensure_key_spend(client, keys[10], workspace_id, key_id, period_start, key_in_money)
    if all(present):
        _remember(marker)
        return
    records = UsageRecord.objects.for_workspace(workspace_id)
    if not present[0]:
        recent = records.filter(started_at__gt=moment - timedelta(hours=5), quota_units__gt=0)
        events = {
            f"{units}:{call_id}": started.timestamp()
            for call_id, units, started in recent.values_list(
                "call_id", "quota_units", "started_at"
            )
        }
        total = sum(int(member.split(":", 1)[0]) for member in events)
        stored = client.set(q5h_sum, total, nx=True, ex=18060)
        if stored and events:
            client.zadd(q5h_events, events)
            client.expire(q5h_events, 18060)
    if not present[1]:
        used = records.filter(started_at__gte=week_start).aggregate(n=Sum("quota_units"))["n"] or 0
        client.set(week, used, nx=True, ex=8 * 86400)
    if not present[2]:
        used = records.filter(started_at__gte=period_start).aggregate(n=Sum("credits"))["n"] or 0
        client.set(credits, used, nx=True, ex=32 * 86400)
    _remember(marker)


def _ensure_key_spend(
    client: Any, key: str, workspace_id: str, key_id: str, period_start: datetime, in_money: bool
) -> None:
    if client.exists(key):
        return
    records = UsageRecord.objects.for_workspace(workspace_id).filter(
        key_id=key_id, started_at__gte=period_start
    )
    if in_money:
        spent = prepaid.to_micro(records.aggregate(n=Sum("cost"))["n"] or 0)
    else:
        spent = records.aggregate(n=Sum("credits"))["n"] or 0
    client.set(key, spent, nx=True, ex=32 * 86400)


def _remember(marker: tuple[str, ...]) -> None:
    with _lock:
        if len(_checked) > 100_000:
            _checked.clear()
        _checked.add(marker)


def forget() -> None:
    """Check again (tests; after Redis was flushed on purpose)."""
    _checked.clear()
