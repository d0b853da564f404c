"""Streams in flight, and the usage records of those whose web process died.

When a stream starts, the process leaves in Redis what its call's settlement and usage record
would be if it never finished: incomplete, `worker_lost`, the prompt estimate and no completion
tokens (what is known to have been delivered), billed like any stream cut after it started.
It is a member of a sorted set scored with a deadline, renewed together with the call's lease as
the stream goes, and a payload in a hash. The stream's own end removes both, in one MULTI.

A process killed mid-stream renews nothing: the call's in-flight lease lapses after
LIMIT_LEASE_SECONDS (the slot frees itself) and, once the deadline has passed too (twice that),
`sweep()` claims the entry with a script (so once, whatever the number of sweepers), settles it
as the process would have and queues its usage record. The sweep runs from Celery beat, and
whenever a stream starts and something is due (seen in the same round trip). A stream that
finishes after a sweep took it (its process was alive, but silent for twice the lease) is left
as the sweep recorded it: settled once, recorded once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from config.redis_client import redis_client

from . import fallback, limiter, usage_queue
from .limiter import Admission
from .metering import Call, Usage, charged_micro, usage_payload

log = logging.getLogger(__name__)

DUE = "tg:{streams}:due"  # call id → deadline (epoch seconds)
CALLS = "tg:{streams}:calls"  # call id → what to settle and record if it is lost
ERROR_CODE = "worker_lost"

# Claim the entries whose deadline has passed: each goes to exactly one sweeper.
_CLAIM = """
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "WITHSCORES", "LIMIT", 0, ARGV[2])
local claimed = {}
for i = 1, #due, 2 do
  redis.call("ZREM", KEYS[1], due[i])
  local entry = redis.call("HGET", KEYS[2], due[i])
  redis.call("HDEL", KEYS[2], due[i])
  if entry then
    table.insert(claimed, entry)
    table.insert(claimed, due[i + 1])
  end
end
return claimed
"""


def _client() -> Any:
    return redis_client() if not fallback.active() else None


def grace_seconds() -> float:
    """How long after its last renewal a stream counts as lost: its lease, and as long again."""
    return 2 * settings.LIMIT_LEASE_SECONDS


def entry_of(call: Call) -> dict[str, Any]:
    """The settlement and the usage record of `call` if its process dies now."""
    assert call.admission is not None
    lost = dataclasses.replace(
        call,
        status=500,
        error_code=ERROR_CODE,
        incomplete=True,
        usage=Usage(call.prompt_estimate, 0, estimated=True),
    )
    admission = call.admission
    return {
        "record": usage_queue.encode(usage_payload(lost))["r"],
        "keys": admission.keys,
        "units": admission.units,
        "credit_cost": admission.credit_cost,
        "reserved_micro": admission.reserved_micro,
        "key_taken": admission.key_taken,
        "key_in_money": admission.key_in_money,
        "workspace_id": admission.workspace_id,
        "tokens": lost.usage.total_tokens,
        "charged_micro": charged_micro(lost),
    }


def begin(call: Call) -> bool:
    """Leave the call's entry (a stream that has started); True if it was left. Runs a sweep
    when an entry of another call is due."""
    client = _client()
    if client is None or call.admission is None or call.admission.degraded:
        return False
    now = time.time()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(CALLS, call.call_id, json.dumps(entry_of(call), separators=(",", ":")))
        pipe.zadd(DUE, {call.call_id: now + grace_seconds()})
        pipe.zrangebyscore(DUE, "-inf", now, start=0, num=1)
        due = pipe.execute()[2]
    except Exception as exc:  # the stream goes on; only its recovery is lost
        log.warning("could not note stream %s as in flight: %s", call.call_id, exc)
        return False
    if due:
        try:
            sweep()
        except Exception:
            log.exception("sweeping lost streams failed")
    return True


def renew(call: Call) -> None:
    """Keep the call's lease and its entry (as the stream goes; at most every third of a lease)."""
    if call.admission is None or not limiter.renew_lease(call.admission):
        return
    client = _client()
    if client is None or call.admission.degraded:
        return
    try:
        client.zadd(DUE, {call.call_id: time.time() + grace_seconds()}, xx=True)
    except Exception as exc:
        log.warning("could not renew stream %s: %s", call.call_id, exc)


def end(call: Call) -> bool:
    """Remove the call's entry as its stream ends; False if a sweep took it already (the call
    is settled and recorded: the caller must not settle it again)."""
    client = _client()
    if client is None:
        return True
    try:
        pipe = client.pipeline(transaction=True)
        pipe.zrem(DUE, call.call_id)
        pipe.hdel(CALLS, call.call_id)
        removed, _ = pipe.execute()
    except Exception as exc:
        log.warning("could not remove stream %s from those in flight: %s", call.call_id, exc)
        return True
    if not removed:
        log.warning("stream %s ended after a sweep took it for lost", call.call_id)
    return bool(removed)


def sweep(limit: int = 100) -> int:
    """Settle and record the streams whose process died; how many."""
    client = _client()
    if client is None:
        return 0
    claimed = client.eval(_CLAIM, 2, DUE, CALLS, time.time(), limit)
    for raw, deadline in zip(claimed[::2], claimed[1::2], strict=True):
        try:
            settle_lost(json.loads(raw), float(deadline))
        except Exception:
            log.exception("could not settle a lost stream")
    return len(claimed) // 2


def settle_lost(entry: dict[str, Any], deadline: float) -> None:
    """Settle a lost stream's limits (its lease, tokens, a prepaid hold) and queue its record,
    finished when it was last heard of."""
    record = usage_queue._decode(json.loads(entry["record"]))
    last_seen = datetime.fromtimestamp(deadline - grace_seconds(), tz=UTC)
    record["finished_at"] = max(last_seen, record["started_at"])
    record["latency_ms"] = int(
        (record["finished_at"] - record["started_at"]).total_seconds() * 1000
    )
    admission = Admission(
        record["call_id"],
        entry["keys"],
        int(entry["units"]),
        int(entry["credit_cost"]),
        reserved_micro=int(entry["reserved_micro"]),
        workspace_id=entry["workspace_id"],
        key_taken=int(entry.get("key_taken", 0)),  # (none in an entry left before key caps)
        key_in_money=bool(entry.get("key_in_money", False)),
    )
    limiter.settle(
        admission, tokens=int(entry["tokens"]), succeeded=True, charged_micro=entry["charged_micro"]
    )
    usage_queue.enqueue(record)
    log.warning("stream %s was lost with its process; recorded as incomplete", record["call_id"])
