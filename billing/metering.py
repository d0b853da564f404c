"""Admission before a call and settlement after it: the two points where the pipeline meets
billing. The gateway-core version records usage; quotas, limits and credits plug in here.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config import metrics
from config.redis_client import redis_client
from keys.principal import Principal
from proxy.errors import ApiError

from . import fallback, limiter, prepaid, usage_queue
from .limiter import Admission

log = logging.getLogger(__name__)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Call:
    """The facts of one gateway call, filled in as it goes."""

    principal: Principal
    request_id: str
    endpoint: str
    dialect: str
    stream: bool = False
    requested_model: str = ""
    served_model: str = ""
    tier: str = ""
    end_user: str = ""
    deployment_id: int | None = None
    status: int = 200
    error_code: str = ""
    usage: Usage = field(default_factory=Usage)
    prompt_estimate: int = 0  # a stream's prompt tokens as estimated before the upstream counts
    ttft_ms: int | None = None
    upstream_ms: float = 0.0
    incomplete: bool = False
    admission: Admission | None = None
    prices: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    started_at: datetime = field(default_factory=timezone.now)
    settled: bool = False

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = int(self.elapsed_ms())

    def fail(self, status: int, code: str) -> None:
        self.status, self.error_code = status, code


def admit(
    call: Call,
    *,
    units_offpeak: int = 1,
    units_peak: int = 1,
    prices: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0)),
    worst_case_tokens: tuple[int, int] = (0, 0),
) -> None:
    """Check and take every limit for the call (quotas, rate limits, in-flight, credits, and on
    a prepaid plan the worst-case cost); 429 rate_limit_exceeded naming the limit with a true
    Retry-After, or 402 insufficient_credit when the balance cannot cover the call, or 403
    key_limit_reached when the call would take its key past the monthly cap set on it."""
    call.prices = prices
    try:
        call.admission = limiter.admit(
            call.principal,
            call.call_id,
            units_offpeak=units_offpeak,
            units_peak=units_peak,
            endpoint=call.endpoint,
            reserve_micro=prepaid.cost_micro(*worst_case_tokens, prices),
            # A non-streamed call cannot renew its slot while it waits: hold it for as long as
            # the router may take; a stream renews its own as it goes.
            lease_seconds=None if call.stream else settings.ROUTER_DEADLINE_SECONDS + 30,
        )
    except limiter.MoneyUnavailable as exc:
        log.warning("call %s spends money and Redis is unreachable here: refused", call.call_id)
        raise ApiError(
            503,
            "limits_unavailable",
            "The gateway cannot reach your credit balance from here right now; calls that "
            "spend credits or prepaid balance are paused for a few seconds. Retry shortly.",
            headers={"Retry-After": str(max(1, settings.LIMITS_RETRY_SECONDS))},
        ) from exc
    except (RedisError, limiter.LimitsUnavailable) as exc:
        # Redis answered, but with an error (out of memory, read-only replica): no limit can be
        # checked, and refusing is the only way never to overspend. (Unreachable is another
        # matter: billing/fallback.py serves on.)
        log.error("limits unavailable for call %s: %s", call.call_id, exc)
        raise ApiError(
            503,
            "limits_unavailable",
            "The gateway cannot check your plan's limits right now; retry shortly.",
            headers={"Retry-After": "5"},
        ) from exc
    except limiter.LimitExceeded as exceeded:
        if exceeded.limit == "balance":
            headers = {k: v for k, v in exceeded.headers.items() if k != "Retry-After"}
            raise ApiError(
                402,
                "insufficient_credit",
                "Your prepaid balance cannot cover this call (its cost at max_tokens). "
                "Top up in the dashboard, redeem a code, or lower max_tokens.",
                headers=headers,
            ) from exceeded
        if exceeded.limit == "key_monthly_cap":
            headers = {k: v for k, v in exceeded.headers.items() if k != "Retry-After"}
            raise ApiError(
                403,
                "key_limit_reached",
                limiter.describe_key_cap(call.principal, exceeded.retry_after),
                headers=headers,
            ) from exceeded
        raise ApiError(
            429,
            "rate_limit_exceeded",
            limiter.describe(exceeded.limit, exceeded.retry_after),
            headers=exceeded.headers,
        ) from exceeded
    if call.stream:
        metrics.stream_admitted()


def charged_micro(call: Call) -> int:
    """What a prepaid call costs: its tokens (the upstream's count) at the model's prices."""
    if call.admission is None or not call.principal.plan or not call.principal.plan.prepaid:
        return 0
    if not succeeded(call):
        return 0
    cost = prepaid.cost_micro(
        count_of(call.usage.prompt_tokens)[0],
        count_of(call.usage.completion_tokens)[0],
        call.prices,
    )
    # Never more than the hold, which the balance covered at admission: the upstream was told
    # the output it paid for (proxy.pipeline.limit_output); one that ignores it is not billed.
    return min(cost, call.admission.reserved_micro) if call.admission.reserved_micro else cost


def succeeded(call: Call) -> bool:
    """What is charged: answered calls, and streams cut after they started (by the client, the
    upstream or a dead worker), billed for what was delivered."""
    return call.status < 400 or call.incomplete


MAX_COUNT = 2**31 - 1  # the largest token count a usage record holds (PostgreSQL's integer)


def count_of(value: object) -> tuple[int, bool]:
    """A token count as an upstream reported it, made storable: (the count clamped to
    0…2³¹−1, whether it had to be changed). Anything but a whole number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0, value is not None
    if isinstance(value, float):
        if value != value:  # NaN
            return 0, True
        clamped = int(max(0.0, min(float(MAX_COUNT), value)))
        return clamped, clamped != value
    count = value
    clamped = max(0, min(MAX_COUNT, count))
    return clamped, clamped != count


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: object, most: int) -> str:
    """A string PostgreSQL can store in a column of `most` characters: NUL and lone surrogates
    become U+FFFD (validation refuses them in bodies; headers and upstreams may still carry
    them), and it is cut at `most`."""
    text = text if isinstance(text, str) else str(text or "")
    return _UNSTORABLE.sub("\ufffd", text[:most])


def usage_payload(call: Call) -> dict:
    """The call as the fields of its UsageRecord: every string storable, every count in range."""
    return {
        "call_id": call.call_id,
        "request_id": storable(call.request_id, 128),
        "workspace_id": call.principal.workspace_id,
        "key_id": call.principal.key_id or None,  # none: a dashboard action
        "end_user": storable(call.end_user, 256),
        "endpoint": storable(call.endpoint, 40),
        "dialect": storable(call.dialect, 12),
        "requested_model": storable(call.requested_model, 200),
        "served_model": storable(call.served_model, 200),
        "deployment_id": call.deployment_id,
        "tier": storable(call.tier, 20),
        "stream": call.stream,
        "status": call.status,
        "error_code": storable(call.error_code, 60),
        "prompt_tokens": count_of(call.usage.prompt_tokens)[0],
        "completion_tokens": count_of(call.usage.completion_tokens)[0],
        "tokens_estimated": call.usage.estimated,
        "latency_ms": int(call.elapsed_ms()),
        "ttft_ms": call.ttft_ms,
        "incomplete": call.incomplete,
        "credits": call.admission.credit_cost if call.admission and succeeded(call) else 0,
        "cost": prepaid.from_micro(charged_micro(call)),
        "quota_units": call.admission.units if call.admission and succeeded(call) else 0,
        "started_at": call.started_at,
        "finished_at": timezone.now(),
    }


def settle(call: Call) -> None:
    """Record the call's outcome exactly once (also for failures and cut streams): free its
    limits and queue its usage record, in one round trip to Redis when there is one."""
    if call.settled:
        return
    call.settled = True
    payload = usage_payload(call)
    charged = charged_micro(call)
    metrics.record_call(call, payload["credits"], charged)
    client = redis_client() if settings.USAGE_QUEUE and not fallback.active() else None
    if client is not None and call.admission is not None and not call.admission.degraded:
        for attempt in (1, 2):
            pipe = client.pipeline(transaction=False)
            limiter.queue_settle(
                pipe,
                call.admission,
                tokens=call.usage.total_tokens,
                succeeded=succeeded(call),
                charged_micro=charged,
            )
            pipe.xadd(usage_queue.STREAM, usage_queue.encode(payload))
            try:
                pipe.execute()
                return
            except NoScriptError:
                if attempt == 2:
                    break
                limiter.load_scripts()  # a restarted Redis: it forgot our scripts
            except fallback.UNREACHABLE as exc:
                fallback.begin(exc)  # owed to Redis; if it timed out, it may have run already
                limiter.settle_later(
                    call.admission,
                    limiter.settle_args(
                        call.admission,
                        tokens=call.usage.total_tokens,
                        succeeded=succeeded(call),
                        charged_micro=charged,
                    ),
                    ran_maybe=isinstance(exc, RedisTimeoutError),
                )
                usage_queue.write_now([payload])
                return
            except Exception:
                log.exception("could not settle call %s through Redis", call.call_id)
                break
        # The pipeline failed: settle and record one by one (the record goes to the database).
        _settle_limits(call, charged)
        usage_queue.write_now([payload])
        return
    _settle_limits(call, charged)
    try:
        usage_queue.enqueue(payload)
    except Exception:
        log.exception("could not record usage of call %s", call.call_id)


def _settle_limits(call: Call, charged: int) -> None:
    if call.admission is None:
        return
    try:
        limiter.settle(
            call.admission,
            tokens=call.usage.total_tokens,
            succeeded=succeeded(call),
            charged_micro=charged,
        )
    except Exception:  # its lease runs out by itself; nothing is charged twice
        log.exception("could not settle the limits of call %s", call.call_id)
