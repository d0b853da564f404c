"""Admission while the live counters' Redis is unreachable.

The gateway keeps serving: limits fall back to per-process counters (the same Lua scripts on the
in-process store, seeded from the usage records in PostgreSQL), while what must never be
overspent, monthly credits and the prepaid balance, is taken by conditional UPDATEs in
PostgreSQL, which every process of every host shares. Redis is tried again every
`LIMITS_RETRY_SECONDS`; the first admission that reaches it replays what it missed, in order,
before its own call is checked:

- settlements of calls Redis had admitted (their leases, tokens, refunds and balance true-up);
- what calls admitted without it spent (quota units, credits, balance), on the counters Redis
  kept. A counter Redis lost is rebuilt from PostgreSQL instead, which already counts them.

What is owed to Redis is kept per process: a process that dies during an outage leaves its
share uncounted in Redis until the counter is rebuilt (the money itself is in PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from accounts.models import Workspace
from config import metrics

from .models import CreditUse, KeySpend, LedgerKind, UsageRecord

log = logging.getLogger(__name__)

# What "Redis is unreachable" looks like; a script error or a full Redis is a bug, not an outage.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


@dataclass
class Owed:
    """One thing Redis must catch up on: a script to run once it is back. Each carries a marker
    key (its last key), so a replay that is retried after a timeout is applied once."""

    script: str  # "catch_up" | "settle" | "add_if_present" (billing/lua)
    keys: list[str]
    args: list[Any]


def marker(workspace_id: str, what: str) -> str:
    return f"lim:{{{workspace_id}}}:once:{what}"


# Replies that mean "not now" rather than "never": the item is kept for the next replay.
TRANSIENT = ("OOM", "READONLY", "BUSY", "LOADING", "NOSCRIPT", "MASTERDOWN", "TRYAGAIN")


class _Outage:
    def __init__(self) -> None:
        self.down_until = 0.0
        self.healthy = True
        self.episode = 0
        self.owed: list[Owed] = []
        self.seen_credits: dict[str, int] = {}  # credits key → the last count Redis returned
        self.seen_balance: dict[str, int] = {}  # workspace → the last live balance (micro-$)
        self.seen_key_spend: dict[str, int] = {}  # key spend key → the last count Redis returned
        self.balance_gap: dict[tuple[str, int], Decimal] = {}
        self.seeded: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.replaying = threading.Lock()


_outage = _Outage()


def active() -> bool:
    """Redis is configured but was unreachable a moment ago: admission goes around it."""
    return _outage.down_until > time.time() and bool(settings.REDIS_URL)


def episode() -> int:
    return _outage.episode


def begin(exc: BaseException) -> None:
    """Redis failed: go around it for a few seconds. A new outage starts from fresh local
    counters (seeded again from PostgreSQL)."""
    from .limiter import clear_local_store

    with _outage.lock:
        _outage.down_until = time.time() + settings.LIMITS_RETRY_SECONDS
        if not _outage.healthy:
            return
        _outage.healthy = False
        _outage.episode += 1
    clear_local_store()
    metrics.limits_degraded(True)
    log.error("live counters unreachable (%s): per-process limits, credits in PostgreSQL", exc)


def reset() -> None:
    """Forget any outage (tests)."""
    global _outage
    _outage = _Outage()


def owe(item: Owed) -> None:
    with _outage.lock:
        _outage.owed.append(item)


def owed() -> int:
    return len(_outage.owed)


def saw_credits(key: str, used: int) -> None:
    """The credits count Redis last returned: the floor for PostgreSQL's count in an outage."""
    _outage.seen_credits[key] = used


def saw_key_spend(key: str, used: int) -> None:
    """What Redis last said a key spent this period: the floor for PostgreSQL's count."""
    _outage.seen_key_spend[key] = used


def saw_balance(workspace_id: str, micro: int) -> None:
    """The live balance Redis last returned (after this call's reservation)."""
    _outage.seen_balance[workspace_id] = micro


def catch_up(client: Any) -> None:
    """Redis may answer again: replay what it missed (once, whichever thread gets here first),
    before anything else is checked against it. Raises if it is still unreachable. An item
    Redis refuses for now (out of memory, read-only, busy) is kept for the next time; one it
    can never take is logged and dropped, so it cannot block admissions."""
    if not _outage.owed and not _outage.replaying.locked():
        return
    from .limiter import script

    with _outage.replaying:  # (a replay under way: wait for it, then check against its result)
        with _outage.lock:
            items, _outage.owed = _outage.owed, []
        if not items:
            return
        try:
            pipe = client.pipeline(transaction=False)
            for item in items:
                script(item.script, client)(keys=item.keys, args=item.args, client=pipe)
            replies = pipe.execute(raise_on_error=False)
        except UNREACHABLE:
            with _outage.lock:
                _outage.owed[:0] = items
            raise
        kept = []
        for item, reply in zip(items, replies, strict=True):
            if isinstance(reply, Exception):
                if str(reply).upper().startswith(TRANSIENT):
                    kept.append(item)
                else:
                    log.error("dropped a replay the live counters refused: %s (%s)", item, reply)
        with _outage.lock:
            _outage.owed[:0] = kept
        log.warning(
            "live counters reachable; replayed %d of %d", len(items) - len(kept), len(items)
        )


def reached() -> None:
    """An admission went through Redis: the outage, if there was one, is over."""
    if not _outage.healthy:
        with _outage.lock:
            _outage.healthy = True
        metrics.limits_degraded(False)


# --- monthly credits and the prepaid balance in PostgreSQL -------------------------------------


def take_credits(
    workspace_id: str, period_start: datetime, limit: int, cost: int, key: str
) -> int | None:
    """Take `cost` credits of the period by conditional UPDATE: the count after it, or None
    when the limit would be passed. The row starts from the best count known: what Redis last
    said, or what the usage records hold, whichever is higher."""
    rows = CreditUse.objects.filter(workspace_id=workspace_id, period_start=period_start)
    if (key, _outage.episode) not in _outage.seeded:
        spent = (
            UsageRecord.objects.for_workspace(workspace_id)
            .filter(started_at__gte=period_start)
            .aggregate(n=Sum("credits"))["n"]
            or 0
        )
        floor = max(int(spent), _outage.seen_credits.get(key, 0))
        CreditUse.objects.get_or_create(
            workspace_id=workspace_id, period_start=period_start, defaults={"used": floor}
        )
        rows.update(used=Greatest(F("used"), floor))
        _outage.seeded.add((key, _outage.episode))
    with transaction.atomic():
        if not rows.filter(used__lte=limit - cost).update(used=F("used") + cost):
            return None
        return int(rows.values_list("used", flat=True).get())


def credits_used(workspace_id: str, period_start: datetime) -> int:
    found = (
        CreditUse.objects.filter(workspace_id=workspace_id, period_start=period_start)
        .values_list("used", flat=True)
        .first()
    )
    return int(found or 0)


def give_back_credits(workspace_id: str, period_start: datetime, cost: int) -> None:
    CreditUse.objects.filter(
        workspace_id=workspace_id, period_start=period_start, used__gte=cost
    ).update(used=F("used") - cost)


def take_key_spend(
    workspace_id: str,
    key_id: str,
    period_start: datetime,
    cap: int,
    amount: int,
    key: str,
    *,
    in_money: bool,
) -> int | None:
    """Take `amount` of a key's monthly cap by conditional UPDATE, as take_credits does for
    the workspace: the key's spend after it, or None when the cap would be passed."""
    from .prepaid import to_micro

    rows = KeySpend.objects.filter(key_id=key_id, period_start=period_start)
    if (key, _outage.episode) not in _outage.seeded:
        records = UsageRecord.objects.for_workspace(workspace_id).filter(
            key_id=key_id, started_at__gte=period_start
        )
        if in_money:
            spent = to_micro(records.aggregate(n=Sum("cost"))["n"] or 0)
        else:
            spent = records.aggregate(n=Sum("credits"))["n"] or 0
        floor = max(int(spent), _outage.seen_key_spend.get(key, 0))
        KeySpend.objects.get_or_create(
            key_id=key_id,
            period_start=period_start,
            defaults={"workspace_id": workspace_id, "used": floor},
        )
        rows.update(used=Greatest(F("used"), floor))
        _outage.seeded.add((key, _outage.episode))
    with transaction.atomic():
        if not rows.filter(used__lte=cap - amount).update(used=F("used") + amount):
            return None
        return int(rows.values_list("used", flat=True).get())


def key_spend_used(key_id: str, period_start: datetime) -> int:
    found = (
        KeySpend.objects.filter(key_id=key_id, period_start=period_start)
        .values_list("used", flat=True)
        .first()
    )
    return int(found or 0)


def true_up_key_spend(key_id: str, period_start: datetime, change: int) -> None:
    """A settled call spent `change` more (or, negative, less) of its key's cap than it took."""
    if change:
        KeySpend.objects.filter(key_id=key_id, period_start=period_start).update(
            used=Greatest(F("used") + change, 0)
        )


def hold_balance(workspace_id: str, call_id: str, micro: int) -> int | None:
    """Hold a call's worst-case cost on the ledger (the database refuses to go below zero):
    the balance left in micro-dollars, or None if it cannot cover it. The entry is the call's
    usage entry, so its usage record does not charge it again.

    The ledger does not yet know what calls admitted through Redis hold or spent (reservations
    in flight, usage records still in the stream): the gap between it and the live balance Redis
    last showed stays untouchable for the outage."""
    from .ledger import InsufficientBalance, post_entry
    from .prepaid import from_micro, to_micro

    try:
        entry = post_entry(
            Workspace(pk=workspace_id),
            LedgerKind.USAGE,
            -from_micro(micro),
            reason="usage (held at its worst case: live counters unreachable)",
            call_id=call_id,
            sync_live=False,
            keep=_balance_gap(workspace_id),
        )
    except InsufficientBalance:
        return None
    return to_micro(entry.balance_after)


def _balance_gap(workspace_id: str) -> Decimal:
    from .ledger import balance_of
    from .prepaid import from_micro

    key = (workspace_id, _outage.episode)
    if key not in _outage.balance_gap:
        seen = _outage.seen_balance.get(workspace_id)
        gap = balance_of(workspace_id) - from_micro(seen) if seen is not None else Decimal(0)
        _outage.balance_gap[key] = max(Decimal(0), gap)
    return _outage.balance_gap[key]


def true_up_balance(workspace_id: str, call_id: str, held: int, charged: int) -> None:
    """Settle a held call: the unused part of the hold comes back; a cost above it (an upstream
    that counted more than the estimate) is taken as far as the balance goes."""
    from .ledger import InsufficientBalance, balance_of, post_entry
    from .prepaid import from_micro

    workspace = Workspace(pk=workspace_id)
    difference = from_micro(held - charged)
    if difference > 0:
        post_entry(
            workspace, LedgerKind.REFUND, difference,
            reason=f"unused hold of call {call_id}", sync_live=False,
        )  # fmt: skip
    elif difference < 0:
        extra = min(-difference, balance_of(workspace_id))
        if extra > Decimal(0):
            try:
                post_entry(
                    workspace, LedgerKind.USAGE, -extra,
                    reason=f"usage above the hold of call {call_id}", sync_live=False,
                )  # fmt: skip
            except InsufficientBalance:
                log.warning("call %s cost more than its hold and the balance", call_id)
