"""Every limit of a plan, checked and taken in one atomic step (billing/lua/admit.lua):
requests per rolling 5 hours and per calendar week (weighted by the model's quota units,
more at peak hours), requests and tokens per rolling minute, calls in flight (leases that expire
if a worker dies), monthly credits, and what each key may spend per month (its cap, set by the
customer: credits, or money on a prepaid plan).

The live counters are in Redis; without Redis (the embedded setup, one process) the very same
scripts run on an in-process store, so both paths behave alike.
"""

from __future__ import annotations

import math
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config import metrics
from config.redis_client import redis_client
from keys.principal import Principal

from . import fallback, prepaid, rebuild
from .services import add_months, catalog_settings

LUA = Path(__file__).resolve().parent / "lua"
LIMIT_NAMES = {
    "requests_per_5h": "requests per 5 hours",
    "requests_per_week": "requests per week",
    "rpm": "requests per minute",
    "key_rpm": "requests per minute for this key",
    "tpm": "tokens per minute",
    "max_concurrency": "concurrent requests",
    "monthly_credits": "monthly credits",
    "balance": "prepaid balance",
    "key_monthly_cap": "this key's monthly cap",
}

_local: Any = None
_scripts: dict[int, dict[str, Any]] = {}
_lock = threading.Lock()


def local_store() -> Any:
    """The in-process store: a stand-in that runs the same Lua as Redis. The counters of the
    embedded setup (one process, no Redis), and per-process limits while Redis is unreachable."""
    global _local
    if _local is None:
        with _lock:
            if _local is None:
                import fakeredis

                _local = fakeredis.FakeRedis()
    return _local


def store() -> Any:
    """Where the live counters are now: Redis, or the in-process store without Redis (the
    embedded setup) or while Redis is unreachable."""
    client = redis_client()
    if client is not None and not fallback.active():
        return client
    return local_store()


def clear_local_store() -> None:
    """Empty the in-process store (tests; the start of an outage)."""
    if _local is not None:
        _local.flushall()
    rebuild.forget()


def script(name: str, client: Any = None) -> Any:
    client = client if client is not None else store()
    scripts = _scripts.setdefault(id(client), {})
    if name not in scripts:
        scripts[name] = client.register_script((LUA / f"{name}.lua").read_text())
    return scripts[name]


# --- the calendar -----------------------------------------------------------------------------


def gateway_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(catalog_settings().get("timezone") or settings.GATEWAY_TIMEZONE)


def week_bounds(now: datetime) -> tuple[str, datetime]:
    """(id, end) of the calendar week containing `now`: Monday 00:00 in the gateway's zone."""
    local = now.astimezone(gateway_zone())
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}", monday + timedelta(days=7)


def is_peak(now: datetime) -> bool:
    start, end = (catalog_settings().get("peak_hours") or "14:00-18:00").split("-")
    local = now.astimezone(gateway_zone()).strftime("%H:%M")
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight, e.g. 22:00-02:00


def credit_period(anchor: float, now: datetime) -> tuple[datetime, datetime]:
    """The monthly period of a subscription (started at `anchor`) that contains `now`."""
    start = datetime.fromtimestamp(anchor, tz=zoneinfo.ZoneInfo("UTC"))
    months = max(0, (now.year - start.year) * 12 + now.month - start.month)
    if add_months(start, months) > now and months > 0:
        months -= 1
    return add_months(start, months), add_months(start, months + 1)


# --- admission and settlement -----------------------------------------------------------------


@dataclass
class Admission:
    call_id: str
    keys: list[str]
    units: int
    credit_cost: int
    headers: dict[str, str] = field(default_factory=dict)
    lease_renewed_at: float = 0.0
    reserved_micro: int = 0  # prepaid: the worst case held back at admission
    admitted_at: float = 0.0
    # Admitted while Redis was unreachable: per-process counters, credits and balance in
    # PostgreSQL (billing/fallback.py); it is settled the same way.
    degraded: bool = False
    workspace_id: str = ""
    period_start: datetime | None = None
    credits_taken: bool = False
    # What the call took of its key's monthly spend: its credit cost, or on a prepaid plan its
    # reservation in micro-dollars (`key_in_money`); trued up at settlement.
    key_taken: int = 0
    key_in_money: bool = False
    key_id: str = ""
    key_spend_taken: bool = False  # taken in PostgreSQL (admitted while Redis was unreachable)


class LimitExceeded(Exception):
    def __init__(self, limit: str, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__(limit)
        self.limit = limit
        self.retry_after = retry_after
        self.headers = headers


def _limit(value: int | None) -> int:
    return -1 if value is None else int(value)


def counter_keys(principal: Principal, week_id: str, period_id: int) -> list[str]:
    ws = principal.workspace_id
    return [
        f"lim:{{{ws}}}:q5h:events",
        f"lim:{{{ws}}}:q5h:sum",
        f"lim:{{{ws}}}:week:{week_id}",
        f"lim:{{{ws}}}:rpm",
        f"lim:{{{ws}}}:rpm:key:{principal.key_id}",
        f"lim:{{{ws}}}:tpm:events",
        f"lim:{{{ws}}}:tpm:sum",
        f"lim:{{{ws}}}:inflight",
        f"lim:{{{ws}}}:credits:{period_id}",
        prepaid.balance_key(ws),
        key_spend_key(ws, principal.key_id, period_id),
    ]


def key_spend_key(workspace_id: str, key_id: str, period_id: int) -> str:
    """What a key spent in a monthly period (credits, or micro-dollars on a prepaid plan)."""
    return f"lim:{{{workspace_id}}}:keyspend:{key_id}:{period_id}"


def key_amount(principal: Principal, cost: int, reserve: int) -> int:
    """What a call takes of its key's monthly spend: its reservation on a prepaid plan, else
    its credit cost."""
    if principal.plan and principal.plan.prepaid:
        return max(reserve, 0)
    return cost


def prepare(
    principal: Principal,
    keys: list[str] | None = None,
    moment: datetime | None = None,
    week_end: datetime | None = None,
    period_start: datetime | None = None,
) -> None:
    """What must exist before the script runs: the live balance of a prepaid plan, and any
    counter the store lost, rebuilt from PostgreSQL (each checked once per process and window;
    in an outage, once more for the in-process counters that stand in for Redis)."""
    moment = moment or datetime.now(tz=zoneinfo.ZoneInfo("UTC"))
    if week_end is None or period_start is None or keys is None:
        week_id, week_end = week_bounds(moment)
        period_start, _ = credit_period(principal.period_anchor or moment.timestamp(), moment)
        keys = counter_keys(principal, week_id, int(period_start.timestamp()))
    try:
        _prepare(principal, keys, moment, week_end, period_start, store())
    except fallback.UNREACHABLE as exc:
        fallback.begin(exc)
        _prepare(principal, keys, moment, week_end, period_start, local_store())


def _prepare(
    principal: Principal,
    keys: list[str],
    moment: datetime,
    week_end: datetime,
    period_start: datetime,
    client: Any,
) -> None:
    standing_in = client is local_store() and redis_client() is not None  # an outage
    if principal.plan and principal.plan.prepaid and not standing_in:
        prepaid.ensure_live_balance(principal.workspace_id, client)
    week_start = week_end - timedelta(days=7)
    rebuild.ensure_counters(
        client, keys, principal.workspace_id, moment, week_start, period_start,
        scope=f"outage-{fallback.episode()}" if standing_in else "",
        key_id=principal.key_id, key_in_money=bool(principal.plan and principal.plan.prepaid),
    )  # fmt: skip


@dataclass
class _Request:
    """One admission's inputs, as admit.lua takes them and as the fallback needs them."""

    principal: Principal
    call_id: str
    keys: list[str]
    args: list[Any]
    moment: datetime
    week_end: datetime
    period_start: datetime
    period_end: datetime
    units: int
    cost: int
    reserve: int  # micro-dollars; -1 when the plan is not prepaid

    @property
    def now(self) -> float:
        return float(self.args[0])


def admit(
    principal: Principal,
    call_id: str,
    *,
    units_offpeak: int,
    units_peak: int,
    endpoint: str,
    reserve_micro: int = 0,
    lease_seconds: float | None = None,
) -> Admission:
    """Check and take every limit for one call; LimitExceeded names the first that failed.
    On a prepaid plan, `reserve_micro` (the call's worst-case cost) is held from the balance.
    With Redis unreachable, billing/fallback.py takes over (and hands back when it returns)."""
    plan = principal.plan
    moment = datetime.now(tz=zoneinfo.ZoneInfo("UTC"))
    now = moment.timestamp()
    week_id, week_end = week_bounds(moment)
    period_start, period_end = credit_period(principal.period_anchor or now, moment)
    units = units_peak if is_peak(moment) else units_offpeak
    cost = int((catalog_settings().get("endpoint_credits") or {}).get(endpoint, 0))
    keys = counter_keys(principal, week_id, int(period_start.timestamp()))
    lease = lease_seconds or settings.LIMIT_LEASE_SECONDS
    reserve = reserve_micro if plan and plan.prepaid else -1
    args = [  # in the order of admit.lua's ARGV
        now,
        call_id,
        units,
        _limit(plan.requests_per_5h if plan else None),
        _limit(plan.requests_per_week if plan else None),
        int(week_end.timestamp() - now) + 3600,
        _limit(plan.rpm if plan else None),
        _limit(principal.key_rpm),
        _limit(plan.tpm if plan else None),
        _limit(plan.max_concurrency if plan else None),
        now + lease,
        _limit(plan.monthly_credits if plan else None),
        cost,
        int(period_end.timestamp() - now) + 86400,
        math.ceil(week_end.timestamp() - now),
        math.ceil(period_end.timestamp() - now),
        reserve,
        _limit(principal.key_monthly_cap),
        key_amount(principal, cost, reserve),
    ]
    request = _Request(
        principal, call_id, keys, args, moment, week_end, period_start, period_end, units, cost,
        reserve,
    )  # fmt: skip
    client = redis_client()
    if client is not None and not fallback.active():
        try:
            fallback.catch_up(client)
            _prepare(principal, keys, moment, week_end, period_start, client)
            result = script("admit", client)(keys=keys, args=args)
        except fallback.UNREACHABLE as exc:
            fallback.begin(exc)
        else:
            fallback.reached()
            fallback.saw_credits(keys[8], int(result[7]))
            if len(result) > 13:
                fallback.saw_key_spend(keys[10], int(result[13]))
            if reserve >= 0:
                fallback.saw_balance(principal.workspace_id, int(result[11]))
            return _outcome(request, list(result))
    if client is not None:
        return _admit_without_redis(request)
    _prepare(principal, keys, moment, week_end, period_start, local_store())
    return _outcome(request, list(script("admit", local_store())(keys=keys, args=args)))


def _outcome(request: _Request, result: list, *, degraded: bool = False) -> Admission:
    """The script's answer as an Admission, or LimitExceeded with the headers of the moment."""
    admitted, failed, wait = int(result[0]), _text(result[1]), int(result[2])
    headers = rate_headers(
        request.principal, result, request.week_end, request.period_end, request.now
    )
    if not admitted:
        headers["Retry-After"] = str(wait)
        metrics.limit_rejected(failed)
        raise LimitExceeded(failed, wait, headers)
    return Admission(
        request.call_id,
        request.keys,
        request.units,
        request.cost,
        headers,
        lease_renewed_at=request.now,
        reserved_micro=max(request.reserve, 0),
        admitted_at=request.now,
        degraded=degraded,
        workspace_id=request.principal.workspace_id,
        period_start=request.period_start,
        key_taken=int(request.args[18]),
        key_in_money=bool(request.principal.plan and request.principal.plan.prepaid),
        key_id=request.principal.key_id,
    )


def _admit_without_redis(request: _Request) -> Admission:
    """Redis is unreachable: the rate limits and quotas on this process's counters; monthly
    credits, the key's monthly cap and the prepaid balance by conditional UPDATE in PostgreSQL
    (billing/fallback.py)."""
    principal = request.principal
    workspace_id = principal.workspace_id
    if settings.LIMITS_OUTAGE_MONEY == "refuse" and spends_money(request):
        raise MoneyUnavailable("this host cannot reach the live counters of credits and balance")
    _prepare(
        principal, request.keys, request.moment, request.week_end, request.period_start,
        local_store(),
    )  # fmt: skip
    local_args = list(request.args)
    local_args[11], local_args[12], local_args[16] = -1, 0, -1  # credits and money: below
    local_args[17], local_args[18] = -1, 0  # and the key's monthly cap
    result = list(script("admit", local_store())(keys=request.keys, args=local_args))
    failed, wait = ("", 0) if int(result[0]) else (_text(result[1]), int(result[2]))
    try:
        failed, wait, credits_taken, key_taken = _take_money(request, result, failed, wait)
    except DatabaseError as exc:  # nor is the database: no limit can be checked
        _give_back_locally(request, result)
        raise LimitsUnavailable(str(exc)) from exc
    if failed:
        _give_back_locally(request, result)
        result[:3] = [0, failed, wait]
    admission = _outcome(request, result, degraded=True)
    admission.credits_taken, admission.key_spend_taken = credits_taken, key_taken
    # Redis takes the call's share once it is back (before the settlement, which is owed later).
    keys, marker = request.keys, fallback.marker(workspace_id, f"admit:{request.call_id}")
    share = [request.call_id, request.units, request.now, request.cost, max(request.reserve, 0)]
    lease_expiry, key_share = request.args[10], request.args[18]
    fallback.owe(
        fallback.Owed(
            "catch_up",
            [*keys[:3], keys[8], keys[9], keys[7], marker, keys[10]],
            [*share, lease_expiry, key_share],
        )
    )
    return admission


class LimitsUnavailable(Exception):
    """Neither the live counters nor the database can take the call's limits right now."""


class MoneyUnavailable(LimitsUnavailable):
    """Redis unreachable from this host, and the call spends money (LIMITS_OUTAGE_MONEY =
    "refuse"): hosts that reach Redis keep spending from it, so this one must not spend too."""


def spends_money(request: _Request) -> bool:
    """The call takes monthly credits of a plan that has an allotment, or of a key's monthly
    cap, or holds prepaid money."""
    plan = request.principal.plan
    credits = plan is not None and plan.monthly_credits is not None and request.cost > 0
    capped = request.principal.key_monthly_cap is not None and int(request.args[18]) > 0
    return credits or capped or request.reserve > 0


def _take_money(
    request: _Request, result: list, failed: str, wait: int
) -> tuple[str, int, bool, bool]:
    """Monthly credits, the key's cap and the prepaid hold in PostgreSQL, for a call this
    process's counters admitted: (the limit that failed or "", retry after, whether credits
    were taken, whether the key's spend was)."""
    plan, workspace_id = request.principal.plan, request.principal.workspace_id
    monthly = plan.monthly_credits if plan else None
    credits_taken = key_taken = False
    if not failed and monthly is not None and request.cost > 0:
        used = fallback.take_credits(
            workspace_id, request.period_start, int(monthly), request.cost, request.keys[8]
        )
        if used is None:
            failed = "monthly_credits"
            wait = max(1, math.ceil(request.period_end.timestamp() - request.now))
        else:
            result[7], credits_taken = used, True
    try:
        if not failed:
            taken = _take_key_spend(request, result)
            if taken is None:
                failed = "key_monthly_cap"
                wait = max(1, math.ceil(request.period_end.timestamp() - request.now))
            key_taken = bool(taken)
        held = not failed and request.reserve > 0
        if held:
            left = fallback.hold_balance(workspace_id, request.call_id, request.reserve)
            if left is None:
                failed, wait = "balance", 0
            else:
                result[11] = left
    except DatabaseError:
        if credits_taken:
            fallback.give_back_credits(workspace_id, request.period_start, request.cost)
        if key_taken:
            _give_back_key_spend(request)
        raise
    if not held and plan and plan.prepaid:
        from .ledger import balance_of

        result[11] = prepaid.to_micro(balance_of(workspace_id))
    if failed and credits_taken:
        fallback.give_back_credits(workspace_id, request.period_start, request.cost)
        credits_taken = False
    if failed and key_taken:
        _give_back_key_spend(request)
        key_taken = False
    if failed and monthly is not None:
        result[7] = fallback.credits_used(workspace_id, request.period_start)
    return failed, wait, credits_taken, key_taken


def _take_key_spend(request: _Request, result: list) -> bool | None:
    """The key's monthly cap in PostgreSQL: True when taken, False when there is nothing to
    take, None when the cap would be passed."""
    cap, amount = int(request.args[17]), int(request.args[18])
    if cap < 0 or amount <= 0:
        return False
    principal = request.principal
    used = fallback.take_key_spend(
        principal.workspace_id, principal.key_id, request.period_start, cap, amount,
        request.keys[10], in_money=bool(principal.plan and principal.plan.prepaid),
    )  # fmt: skip
    if used is None:
        return None
    result[13:14] = [used]
    return True


def _give_back_key_spend(request: _Request) -> None:
    fallback.true_up_key_spend(
        request.principal.key_id, request.period_start, -int(request.args[18])
    )


def _give_back_locally(request: _Request, result: list) -> None:
    if int(result[0]):  # this process's counters took the call: give it back
        script("settle", local_store())(
            keys=request.keys,
            args=[request.now, request.call_id, request.units, 0, 0, 0, 0, 0],
        )


def settle_args(
    admission: Admission, *, tokens: int, succeeded: bool, charged_micro: int = 0
) -> list:
    spent_credits = admission.key_taken if succeeded else 0
    key_spent = charged_micro if admission.key_in_money else spent_credits
    return [  # in the order of settle.lua's ARGV (9: the replay mode, set by settle_later)
        time.time(),
        admission.call_id,
        admission.units,
        tokens,
        1 if succeeded else 0,
        admission.credit_cost,
        admission.reserved_micro,
        charged_micro,
        "",
        admission.key_taken,
        key_spent,
    ]


def settle(admission: Admission, *, tokens: int, succeeded: bool, charged_micro: int = 0) -> None:
    """Free the call's slot, count its tokens, give back what a failed call took, true up the
    prepaid balance. Redis unreachable: it replays this when it is back."""
    args = settle_args(admission, tokens=tokens, succeeded=succeeded, charged_micro=charged_micro)
    if admission.degraded:
        _settle_without_redis(admission, args, succeeded=succeeded, charged_micro=charged_micro)
        return
    client = redis_client()
    if client is None:
        script("settle")(keys=admission.keys, args=args)
        return
    if not fallback.active():
        try:
            script("settle", client)(keys=admission.keys, args=args)
            return
        except fallback.UNREACHABLE as exc:
            fallback.begin(exc)
            # A timeout may have come after Redis ran it: then the lease is gone, and so is
            # the need to replay it.
            settle_later(admission, args, ran_maybe=isinstance(exc, RedisTimeoutError))
            return
    settle_later(admission, args)


def settle_later(admission: Admission, args: list, *, ran_maybe: bool = False) -> None:
    """Owe Redis this settlement: it is replayed once Redis is back (once, even if retried)."""
    mode = "replay-if-leased" if ran_maybe else "replay"
    key = fallback.marker(admission.workspace_id, f"settle:{admission.call_id}")
    fallback.owe(fallback.Owed("settle", [*admission.keys, key], [*args[:8], mode, *args[9:]]))


def _settle_without_redis(
    admission: Admission, args: list, *, succeeded: bool, charged_micro: int
) -> None:
    """Settle a call admitted while Redis was unreachable, where it was admitted (this
    process's counters, PostgreSQL); then owe Redis the settlement, for the share the call
    took there when Redis came back."""
    local_args = list(args)
    local_args[5:8] = [0, 0, 0]  # credits and money were not taken on this process's counters
    local_args[9:11] = [0, 0]  # nor the key's spend
    script("settle", local_store())(keys=admission.keys, args=local_args)
    workspace_id = admission.workspace_id
    if admission.credits_taken and not succeeded and admission.period_start is not None:
        fallback.give_back_credits(workspace_id, admission.period_start, admission.credit_cost)
    if admission.key_spend_taken and admission.period_start is not None:
        fallback.true_up_key_spend(admission.key_id, admission.period_start, args[10] - args[9])
    if admission.reserved_micro > 0:
        fallback.true_up_balance(
            workspace_id, admission.call_id, admission.reserved_micro, charged_micro
        )
    settle_later(admission, args)


def queue_settle(
    pipe: Any, admission: Admission, *, tokens: int, succeeded: bool, charged_micro: int = 0
) -> None:
    """Add the settlement to a Redis pipeline, sent with the usage record in one round trip.
    The caller reloads the scripts and retries on NoScriptError (a restarted Redis)."""
    args = settle_args(admission, tokens=tokens, succeeded=succeeded, charged_micro=charged_micro)
    pipe.evalsha(script("settle").sha, len(admission.keys), *admission.keys, *args)


def load_scripts() -> None:
    """Make sure the server knows our scripts (a fresh or restarted Redis knows none)."""
    client = store()
    for name in ("admit", "settle", "catch_up"):
        client.script_load(script(name).script)


def renew_lease(admission: Admission) -> bool:
    """Keep a long stream's in-flight slot (called as it goes, at most every third of a lease);
    True when it renewed it now."""
    now = time.time()
    if now - admission.lease_renewed_at < settings.LIMIT_LEASE_SECONDS / 3:
        return False
    admission.lease_renewed_at = now
    client = local_store() if admission.degraded else store()
    try:
        client.zadd(
            admission.keys[7], {admission.call_id: now + settings.LIMIT_LEASE_SECONDS}, xx=True
        )
    except fallback.UNREACHABLE as exc:  # the stream goes on; its lease may lapse meanwhile
        fallback.begin(exc)
    return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def rate_headers(
    principal: Principal, result: list, week_end: datetime, period_end: datetime, now: float
) -> dict[str, str]:
    """The seeds' rate-limit headers and OpenAI's, for the limits the plan has."""
    plan = principal.plan
    if plan is None:
        return {}
    used_5h, used_week, used_rpm, used_tpm, used_credits = (int(v) for v in result[3:8])
    rpm_wait, tpm_wait = int(result[9]), int(result[10])
    headers: dict[str, str] = {}
    if plan.requests_per_5h is not None:
        headers["X-RateLimit-Limit-5h"] = str(plan.requests_per_5h)
        headers["X-RateLimit-Remaining-5h"] = str(max(0, plan.requests_per_5h - used_5h))
    if plan.requests_per_week is not None:
        headers["X-RateLimit-Limit-Weekly"] = str(plan.requests_per_week)
        headers["X-RateLimit-Remaining-Weekly"] = str(max(0, plan.requests_per_week - used_week))
        headers["X-RateLimit-Reset-Weekly"] = str(int(week_end.timestamp()))
    rpm = principal.rpm
    if rpm is not None:
        key_in_force = (
            principal.key_rpm is not None and principal.key_rpm == rpm and len(result) > 12
        )
        counted = int(result[12]) if key_in_force else used_rpm
        remaining = max(0, rpm - counted)
        headers["X-RateLimit-Limit"] = str(rpm)
        headers["X-RateLimit-Remaining"] = str(remaining)
        headers["X-RateLimit-Reset"] = str(int(now) + max(rpm_wait, 0))
        headers["x-ratelimit-limit-requests"] = str(rpm)
        headers["x-ratelimit-remaining-requests"] = str(remaining)
        headers["x-ratelimit-reset-requests"] = f"{max(rpm_wait, 0)}s"
    if plan.tpm is not None:
        headers["x-ratelimit-limit-tokens"] = str(plan.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, plan.tpm - used_tpm))
        headers["x-ratelimit-reset-tokens"] = f"{max(tpm_wait, 0)}s"
    if plan.monthly_credits is not None:
        headers["X-Credits-Limit"] = str(plan.monthly_credits)
        headers["X-Credits-Remaining"] = str(max(0, plan.monthly_credits - used_credits))
        headers["X-Credits-Reset"] = str(int(period_end.timestamp()))
    if plan.prepaid and len(result) > 11:
        headers["X-Balance-Remaining"] = str(prepaid.from_micro(int(result[11])))
    return headers


def describe(limit: str, retry_after: int) -> str:
    when = datetime.now(tz=zoneinfo.ZoneInfo("UTC")) + timedelta(seconds=retry_after)
    return (
        f"Rate limit exceeded: {LIMIT_NAMES.get(limit, limit)}. "
        f"Retry after {retry_after} s ({when.strftime('%Y-%m-%d %H:%M:%S')} UTC)."
    )


def describe_key_cap(principal: Principal, retry_after: int) -> str:
    """The refusal of a call that would take its key past the monthly cap: which cap, and when
    it resets (the start of the next monthly period)."""
    cap = principal.key_monthly_cap or 0
    if principal.plan and principal.plan.prepaid:
        amount = f"${prepaid.from_micro(cap).normalize():,f}"
    else:
        amount = f"{cap:,} credit{'' if cap == 1 else 's'}"
    resets = datetime.now(tz=zoneinfo.ZoneInfo("UTC")) + timedelta(seconds=retry_after)
    return (
        f"Key limit reached: this API key's monthly cap of {amount} would be exceeded by this "
        f"call. It resets at {resets.strftime('%Y-%m-%d %H:%M')} UTC; an owner or admin of the "
        "workspace can raise or remove the cap on the dashboard's Keys page."
    )
