"""A read-only look at the live limit counters (see billing/lua/admit.lua for how each is kept):
every limit of the caller's plan, how much of it is in use now, and when it frees up.

Plain reads only (ZRANGEBYSCORE / ZCOUNT bounded by each window's horizon, GET): entries that
have already left their window are skipped here, never removed: only admission expires them,
so reading the quota changes nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from keys.principal import Principal

from . import fallback, limiter

FIVE_HOURS = 5 * 3600  # admit.lua: now - 18000
MINUTE = 60  # admit.lua: now - 60


def quota_snapshot(principal: Principal, now: datetime | None = None) -> dict[str, Any]:
    """`{"object": "quota", "plan": code, "limits": {name: {limit, used, remaining, resets_at}}}`.

    Every limit of the plan is listed, `limit: null` (and `remaining: null`) when the plan leaves
    it unlimited; `key_rpm` only when the key's own RPM is lower than the plan's;
    `key_monthly_cap` only when the key has one (credits, or micro-dollars on a prepaid plan). `resets_at` is
    the calendar reset for the week and the monthly credits, the moment the oldest entry leaves
    a rolling window (null when the window is empty), and null for calls in flight.
    """
    moment = (now or datetime.now(tz=UTC)).astimezone(UTC)
    at = moment.timestamp()
    week_id, week_end = limiter.week_bounds(moment)
    period_start, period_end = limiter.credit_period(principal.period_anchor or at, moment)
    keys = limiter.counter_keys(principal, week_id, int(period_start.timestamp()))
    five_hours, minute = at - FIVE_HOURS, at - MINUTE

    (
        sum_5h, gone_5h, first_5h, week, rpm, first_rpm, key_rpm, first_key,
        sum_tpm, gone_tpm, first_tpm, in_flight, credits, key_spent,
    ) = _counters(keys, five_hours, minute, at)  # fmt: skip
    used_5h = _int(sum_5h) - _weight(gone_5h) if first_5h else 0
    used_tpm = _int(sum_tpm) - _weight(gone_tpm) if first_tpm else 0

    plan = principal.plan

    def plan_limit(name: str) -> int | None:
        value = getattr(plan, name) if plan is not None else None
        return None if value is None else int(value)

    limits: dict[str, dict[str, Any]] = {
        "requests_per_5h": entry(
            plan_limit("requests_per_5h"), used_5h, _rolling(first_5h, FIVE_HOURS)
        ),
        "requests_per_week": entry(plan_limit("requests_per_week"), _int(week), week_end),
        "rpm": entry(plan_limit("rpm"), int(rpm), _rolling(first_rpm, MINUTE)),
    }
    plan_rpm = plan_limit("rpm")
    if principal.key_rpm is not None and (plan_rpm is None or principal.key_rpm < plan_rpm):
        limits["key_rpm"] = entry(principal.key_rpm, int(key_rpm), _rolling(first_key, MINUTE))
    limits["tpm"] = entry(plan_limit("tpm"), used_tpm, _rolling(first_tpm, MINUTE))
    limits["max_concurrency"] = entry(plan_limit("max_concurrency"), int(in_flight), None)
    spent = _int(credits)
    if fallback.active():  # Redis unreachable: credits are counted in the database meanwhile
        spent = max(spent, fallback.credits_used(principal.workspace_id, period_start))
    limits["monthly_credits"] = entry(plan_limit("monthly_credits"), spent, period_end)
    if principal.key_monthly_cap is not None:
        key_used = _int(key_spent)
        if fallback.active():
            key_used = max(key_used, fallback.key_spend_used(principal.key_id, period_start))
        limits["key_monthly_cap"] = entry(principal.key_monthly_cap, key_used, period_end)
    return {"object": "quota", "plan": plan.code if plan else None, "limits": limits}


def entry(limit: int | None, used: int, resets_at: datetime | None) -> dict[str, Any]:
    used = max(0, used)
    return {
        "limit": limit,
        "used": used,
        "remaining": None if limit is None else max(0, limit - used),
        "resets_at": iso_seconds(resets_at),
    }


def iso_seconds(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, rounded up to the second (never earlier than the true moment)."""
    if moment is None:
        return None
    whole = datetime.fromtimestamp(math.ceil(moment.timestamp()), tz=UTC)
    return whole.isoformat().replace("+00:00", "Z")


def _rolling(entries: list[tuple[Any, float]], span: int) -> datetime | None:
    """When the oldest entry still in the window (a list of at most one) leaves it."""
    if not entries:
        return None
    return datetime.fromtimestamp(float(entries[0][1]) + span, tz=UTC)


def _weight(members: list[Any]) -> int:
    """The weight of entries of a weighted window: members are "<weight>:<call id>"."""
    total = 0
    for member in members:
        text = member.decode() if isinstance(member, bytes) else str(member)
        total += int(text.split(":", 1)[0])
    return total


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _counters(keys: list[str], five_hours: float, minute: float, at: float) -> list[Any]:
    """Every counter the snapshot needs, in one round trip (from this process's counters while
    Redis is unreachable)."""
    try:
        return _read(limiter.store(), keys, five_hours, minute, at)
    except fallback.UNREACHABLE as exc:
        fallback.begin(exc)
        return _read(limiter.store(), keys, five_hours, minute, at)


def _read(client: Any, keys: list[str], five_hours: float, minute: float, at: float) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    # Weighted windows: the running sum, less what has left the window but is still stored
    # (admission removes it; until then it is few entries, not the whole window).
    pipe.get(keys[1])
    pipe.zrangebyscore(keys[0], "-inf", repr(five_hours))  # "units:call", left the window
    pipe.zrangebyscore(keys[0], f"({five_hours!r}", "+inf", start=0, num=1, withscores=True)
    pipe.get(keys[2])  # this week's units
    pipe.zcount(keys[3], f"({minute!r}", "+inf")  # workspace requests in the last minute
    pipe.zrangebyscore(keys[3], f"({minute!r}", "+inf", start=0, num=1, withscores=True)
    pipe.zcount(keys[4], f"({minute!r}", "+inf")  # this key's requests in the last minute
    pipe.zrangebyscore(keys[4], f"({minute!r}", "+inf", start=0, num=1, withscores=True)
    pipe.get(keys[6])
    pipe.zrangebyscore(keys[5], "-inf", repr(minute))  # "tokens:call", left the window
    pipe.zrangebyscore(keys[5], f"({minute!r}", "+inf", start=0, num=1, withscores=True)
    pipe.zcount(keys[7], f"({at!r}", "+inf")  # leases not yet expired
    pipe.get(keys[8])  # credits spent this period
    pipe.get(keys[10])  # what the key spent this period
    return pipe.execute()
