"""Where usage records go after a call: never a PostgreSQL write on the request's path.

With Redis, settlement appends the record to a stream (`XADD`, ~0.1 ms); the flusher
(`python manage.py flush_usage`) reads it with a consumer group in batches, inserts them in one
statement that ignores call ids already present, and only then acknowledges and deletes them. A
flusher that dies mid-batch leaves its entries pending; the next one claims them after
USAGE_CLAIM_IDLE_MS and inserts them again, which the unique call id makes harmless: every
record lands exactly once. Without Redis (the embedded setup), records are written at once.

One bad record never holds up the others: a batch the database refuses is written again record
by record, and a record that still fails for a reason of its own (not the database being away)
moves to the dead-letter stream `tg:usage:dead` with the reason, where the operator sees it
(status page, `tollgate_usage_dead_letters`) and replays or drops it (`manage.py
usage_dead_letters`, which also lists them).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils.dateparse import parse_datetime

from config.redis_client import redis_client

from .models import LedgerEntry, UsageRecord

log = logging.getLogger(__name__)

STREAM = "tg:usage"
GROUP = "flushers"
DEAD = "tg:usage:dead"  # records the database refused, with the reason: see dead_letters()
DEAD_MAX = 100_000  # the dead-letter stream keeps about this many of the newest
# The database away, not the record's fault: the batch stays pending and is retried.
UNAVAILABLE = (OperationalError, InterfaceError)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(payload: dict[str, Any]) -> dict[str, Any]:
    for name in ("started_at", "finished_at"):
        payload[name] = parse_datetime(payload[name])
    return payload


def write_now(payloads: list[dict[str, Any]]) -> None:
    """Insert the records not yet present and their ledger entries (a prepaid call's cost; the
    monthly credits spent, per workspace), in one transaction; a record delivered twice (a
    flusher died before acknowledging) is skipped."""
    from .ledger import charge_usage

    ids = [p["call_id"] for p in payloads]
    with transaction.atomic():
        present = set(UsageRecord.objects.filter(call_id__in=ids).values_list("call_id", flat=True))
        fresh = {p["call_id"]: p for p in payloads if p["call_id"] not in present}
        UsageRecord.objects.bulk_create(
            [UsageRecord(**payload) for payload in fresh.values()], ignore_conflicts=True
        )
        charged = {p["call_id"] for p in fresh.values() if p.get("cost")}
        # A call admitted while Redis was unreachable paid on the ledger at once.
        charged -= set(
            LedgerEntry.objects.filter(call_id__in=charged).values_list("call_id", flat=True)
        )
        for payload in fresh.values():
            if payload["call_id"] in charged:
                charge_usage(payload["workspace_id"], Decimal(payload["cost"]), payload["call_id"])
        _record_credits(list(fresh.values()))


def encode(payload: dict[str, Any]) -> dict[str, str]:
    return {"r": json.dumps({k: _encode(v) for k, v in payload.items()}, separators=(",", ":"))}


def enqueue(payload: dict[str, Any]) -> None:
    """Hand a usage record over; falls back to writing it at once if Redis is unreachable."""
    from . import fallback

    client = redis_client() if settings.USAGE_QUEUE and not fallback.active() else None
    if client is not None:
        try:
            client.xadd(STREAM, encode(payload))
            return
        except Exception as exc:  # Redis down: the database takes it, nothing is lost
            if isinstance(exc, fallback.UNREACHABLE):
                fallback.begin(exc)
            log.warning(
                "usage queue unavailable (%s); writing call %s directly", exc, payload["call_id"]
            )
    write_now([payload])


def _ensure_group(client: Any) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except Exception as exc:  # BUSYGROUP: it exists already
        if "BUSYGROUP" not in str(exc):
            raise


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def flush_batch(
    *, consumer: str | None = None, count: int = 500, block_ms: int | None = 1000
) -> int:
    """Move one batch from the stream into PostgreSQL; the number of records moved.
    `block_ms` waits that long for new entries (None: not at all; never 0, which is for ever)."""
    client = redis_client()
    if client is None:
        return 0
    consumer = consumer or consumer_name()
    _ensure_group(client)
    # A batch this flusher read but could not write (the database was away) goes first.
    if entries := _own_pending(client, consumer, count):
        return _write(client, entries)
    _, claimed, _ = client.xautoclaim(
        STREAM,
        GROUP,
        consumer,
        min_idle_time=settings.USAGE_CLAIM_IDLE_MS,
        start_id="0-0",
        count=count,
    )
    entries = [(i, f) for i, f in claimed if f]
    if not entries:
        answer = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms)
        entries = [(i, f) for _, items in answer or () for i, f in items if f]
    if not entries:
        return 0
    return _write(client, entries)


def _own_pending(client: Any, consumer: str, count: int) -> list[tuple[Any, Any]]:
    answer = client.xreadgroup(GROUP, consumer, {STREAM: "0"}, count=count)
    items = [(i, f) for _, found in answer or () for i, f in found]
    if gone := [i for i, f in items if not f]:  # deleted since: nothing left to write
        client.xack(STREAM, GROUP, *gone)
    return [(i, f) for i, f in items if f]


def _write(client: Any, entries: list[tuple[Any, Any]]) -> int:
    """Write a batch; if the database refuses it, record by record, the records it still
    refuses going to the dead-letter stream. Raises (the batch stays pending) only when the
    database is away."""
    readable: list[tuple[Any, dict[str, Any]]] = []
    refused: list[tuple[Any, Any, str]] = []
    for entry_id, fields in entries:
        try:
            readable.append((entry_id, _decode(json.loads(fields[b"r"]))))
        except Exception as exc:
            refused.append((entry_id, fields, f"unreadable: {_reason(exc)}"))
    try:
        write_now([payload for _, payload in readable])
    except UNAVAILABLE:
        raise
    except Exception as exc:
        log.warning("usage batch refused (%s); writing it record by record", _reason(exc))
        fields_of = dict(entries)
        database_checked = False
        for entry_id, payload in readable:
            try:
                write_now([payload])
            except UNAVAILABLE:
                raise
            except Exception as exc:
                if not database_checked:
                    if not _database_answers():  # the database went away: not the record
                        raise
                    database_checked = True
                refused.append((entry_id, fields_of[entry_id], _reason(exc)))
    ids = [entry_id for entry_id, _ in entries]
    order = {entry_id: index for index, entry_id in enumerate(ids)}
    refused.sort(key=lambda item: order[item[0]])
    pipe = client.pipeline(transaction=True)  # dead-lettered and taken off the queue together
    for entry_id, fields, reason in refused:
        log.error("usage record %s moved to %s: %s", _text(entry_id), DEAD, reason)
        pipe.xadd(
            DEAD,
            {"r": fields.get(b"r", b""), "reason": reason, "entry": entry_id},
            maxlen=DEAD_MAX,
            approximate=True,
        )
    pipe.xack(STREAM, GROUP, *ids)
    pipe.xdel(STREAM, *ids)
    pipe.execute()
    if refused:
        from config import metrics

        metrics.usage_dead_lettered(len(refused))
    return len(entries)


def _database_answers() -> bool:
    """A record failed: is the database there (so the record is at fault)? Any error a pool or
    driver raises without saying "unavailable" (a pool timeout, a reset) counts as not."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# --- the dead-letter stream (the operator's) ----------------------------------------------------


def dead_letter_count() -> int | None:
    """Records waiting in the dead-letter stream; None without Redis (or when it does not
    answer)."""
    client = redis_client()
    if client is None:
        return None
    try:
        return int(client.xlen(DEAD))
    except Exception:
        return None


def dead_letters(count: int = 100) -> list[dict[str, Any]]:
    """The oldest `count` dead letters: id, reason, and the record as it was queued (text)."""
    client = redis_client()
    if client is None:
        return []
    try:
        found = client.xrange(DEAD, count=count)
    except Exception:  # Redis away: the status page shows the rest
        return []
    return [
        {
            "id": _text(entry_id),
            "reason": _text(fields.get(b"reason", b"")),
            "record": _text(fields.get(b"r", b"")),
        }
        for entry_id, fields in found
    ]


def replay_dead_letters(ids: list[str] | None = None) -> tuple[int, int]:
    """Write dead letters again (all, or those of `ids`), e.g. after a fix: (written, still
    refused). Written ones leave the stream; refused ones stay, with the new reason."""
    client = redis_client()
    if client is None:
        return 0, 0
    entries = _dead_entries(client, ids)
    written = failed = 0
    for entry_id, fields in entries:
        try:
            write_now([_decode(json.loads(fields[b"r"]))])
        except UNAVAILABLE:
            raise
        except Exception as exc:
            failed += 1
            log.warning("dead letter %s refused again: %s", _text(entry_id), _reason(exc))
            continue
        client.xdel(DEAD, entry_id)
        written += 1
    return written, failed


def drop_dead_letters(ids: list[str] | None = None) -> int:
    """Delete dead letters (all, or those of `ids`) for good: the number deleted."""
    client = redis_client()
    if client is None:
        return 0
    found = [entry_id for entry_id, _ in _dead_entries(client, ids)]
    for entry_id in found:
        log.warning("dead letter %s dropped by the operator", _text(entry_id))
    return int(client.xdel(DEAD, *found)) if found else 0


def _dead_entries(client: Any, ids: list[str] | None) -> list[tuple[Any, Any]]:
    if ids is None:
        return list(client.xrange(DEAD))
    found = []
    for entry_id in ids:
        found += client.xrange(DEAD, min=entry_id, max=entry_id)
    return found


def backlog() -> int:
    client = redis_client()
    return int(client.xlen(STREAM)) if client is not None else 0


def _record_credits(payloads: list[dict[str, Any]]) -> None:
    """The monthly credits these calls spent, as one ledger entry per workspace and period
    (plans with an allotment only: unlimited plans have no credit balance to keep)."""
    from .ledger import spend_credits
    from .limiter import credit_period
    from .models import Subscription

    spending = [p for p in payloads if p.get("credits")]
    if not spending:
        return
    plans = {
        str(workspace_id): (anchor, allotment)
        for workspace_id, anchor, allotment in Subscription.objects.filter(
            workspace_id__in={p["workspace_id"] for p in spending},
            plan__monthly_credits__isnull=False,
        ).values_list("workspace_id", "current_period_start", "plan__monthly_credits")
    }
    totals: dict[tuple[str, datetime], list[int]] = {}
    for payload in spending:
        workspace_id = str(payload["workspace_id"])
        if workspace_id not in plans:
            continue
        anchor, _ = plans[workspace_id]
        period_start, _ = credit_period(anchor.timestamp(), payload["started_at"])
        total = totals.setdefault((workspace_id, period_start), [0, 0])
        total[0] += int(payload["credits"])
        total[1] += 1
    for (workspace_id, period_start), (spent, calls) in sorted(totals.items()):
        spend_credits(workspace_id, period_start, int(plans[workspace_id][1]), spent, calls)
