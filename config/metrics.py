"""Prometheus metrics: the series, the cheap functions the hot path calls, and GET /metrics.

Several gunicorn workers: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR (default var/prometheus)
before any worker imports prometheus_client, empties it when the server starts and drops a dead
worker's live gauges (child_exit). Each worker then writes its samples to its own mmap'd files and
a scrape, answered by any worker, sums them all. Without that variable (runserver, tests, one
process) the series live in this process's default registry.

Label values are bounded: endpoints and limits are fixed sets, models are the public catalog's
names (never what a client asked for; a workspace's own models are labelled `private`, those on
its own server `local`, so that a scrape never shows a tenant's model names), upstreams are the
catalog's upstream names.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from billing.metering import Call

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "tollgate_requests",
    "Gateway calls by endpoint, served model and HTTP status (every call, once, at settlement).",
    ["endpoint", "model", "status"],
)
GATEWAY_LATENCY = Histogram(
    "tollgate_gateway_latency_seconds",
    "Time the gateway added to a call: total minus the upstream's time. Non-streamed calls, and "
    "streamed calls that ended before reaching an upstream.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
UPSTREAM_LATENCY = Histogram(
    "tollgate_upstream_latency_seconds",
    "Upstream time of a call: the whole answer (stream=false) or its first event (stream=true).",
    ["model", "stream"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "tollgate_time_to_first_token_seconds",
    "From the request to the first streamed token the client was sent (streamed calls).",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
TOKENS = Counter(
    "tollgate_tokens",
    "Tokens of settled calls, in (prompt) and out (completion).",
    ["model", "direction"],
)
CREDITS = Counter(
    "tollgate_credits_charged",
    "Plan credits charged by successful calls.",
    ["endpoint"],
)
PREPAID = Counter(
    "tollgate_prepaid_charged_dollars",
    "Prepaid balance charged by calls (their tokens at the model's prices), in dollars.",
    ["model"],
)
UPSTREAM_ERRORS = Counter(
    "tollgate_upstream_errors",
    "Failed upstream attempts (each retry counts), by upstream, kind and HTTP status.",
    ["upstream", "kind", "status"],
)
COOLDOWNS = Counter(
    "tollgate_upstream_cooldowns",
    "Cool-downs started: a deployment after repeated failures, or one upstream API key.",
    ["upstream", "scope"],
)
LIMIT_REJECTIONS = Counter(
    "tollgate_limiter_rejections",
    "Calls refused by a plan limit (429, or 402 for the prepaid balance), by limit.",
    ["limit"],
)
LIMITS_DEGRADED = Gauge(
    "tollgate_limits_degraded",
    "Worker processes serving on their own counters because Redis is unreachable (1 each).",
    multiprocess_mode="livesum",
)
LIMITS_OUTAGES = Counter(
    "tollgate_limits_outages",
    "Times a worker process lost Redis and went around it.",
)
DEGRADED_CALLS = Counter(
    "tollgate_degraded_calls",
    "Calls admitted without Redis: limits per process, credits and balances in PostgreSQL.",
)
USAGE_DEAD_LETTERED = Counter(
    "tollgate_usage_dead_lettered",
    "Usage records the database refused even alone, moved to the dead-letter stream by a "
    "flusher (counted where the flusher runs; tollgate_usage_dead_letters is what waits).",
)
STREAMS_IN_FLIGHT = Gauge(
    "tollgate_streams_in_flight",
    "Streamed calls admitted and not yet settled.",
    multiprocess_mode="livesum",
)


# --- recording (hot path: no I/O, a few dictionary look-ups and mmap writes) -----------------------

_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    """metric.labels(*values), remembered: labels() costs ~2 µs, a dictionary look-up ~0.1 µs.
    The label values are bounded (see the module's docstring), and so is this dictionary."""
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def record_call(call: Call, credits: int, charged_micro: int) -> None:
    """Every gateway call, once, where it ends (billing.metering.settle)."""
    try:
        model = model_label(call.served_model)
        endpoint = call.endpoint
        _child(REQUESTS, endpoint, model, str(call.status)).inc()
        usage = call.usage
        if usage.prompt_tokens:
            _child(TOKENS, model, "in").inc(usage.prompt_tokens)
        if usage.completion_tokens:
            _child(TOKENS, model, "out").inc(usage.completion_tokens)
        if credits:
            _child(CREDITS, endpoint).inc(credits)
        if charged_micro:
            _child(PREPAID, model).inc(charged_micro / 1_000_000)
        if call.admission is not None and call.admission.degraded:
            DEGRADED_CALLS.inc()
        routed = call.deployment_id is not None
        if routed:
            _child(UPSTREAM_LATENCY, model, "true" if call.stream else "false").observe(
                call.upstream_ms / 1000
            )
        if call.stream:
            if call.admission is not None:
                STREAMS_IN_FLIGHT.dec()
            if call.ttft_ms is not None:
                _child(TIME_TO_FIRST_TOKEN, model).observe(call.ttft_ms / 1000)
            if routed:
                return
        _child(GATEWAY_LATENCY, endpoint).observe(
            max(0.0, call.elapsed_ms() - call.upstream_ms) / 1000
        )
    except Exception:  # a metric must never fail a call
        log.exception("could not record the metrics of call %s", call.call_id)


def model_label(name: str) -> str:
    """The model as metrics show it: a public catalog name; `local` for a model on a workspace's
    own server, `private` for any other model of one workspace (a fine-tune)."""
    if not name:
        return "none"
    if name.startswith("local/"):
        return "local"
    from proxy.registry import registry

    return name if name in registry.snapshot().public else "private"


def refused(endpoint: str, status: int) -> None:
    """A call refused before it became one (no or a bad key, a missing scope, the database
    away): counted with the calls, without a model."""
    _child(REQUESTS, endpoint, "none", str(status)).inc()


def limits_degraded(degraded: bool) -> None:
    """This process lost Redis (True) or reached it again (False)."""
    if degraded:
        LIMITS_OUTAGES.inc()
    LIMITS_DEGRADED.set(1 if degraded else 0)


def stream_admitted() -> None:
    STREAMS_IN_FLIGHT.inc()


def upstream_failed(upstream: str, kind: str, status: int | None) -> None:
    _child(UPSTREAM_ERRORS, upstream, kind, str(status) if status else "").inc()


def cooled(upstream: str, scope: str) -> None:
    _child(COOLDOWNS, upstream, scope).inc()


def limit_rejected(limit: str) -> None:
    _child(LIMIT_REJECTIONS, limit or "unknown").inc()


def usage_dead_lettered(count: int) -> None:
    USAGE_DEAD_LETTERED.inc(count)


# --- scrape-time collectors ---------------------------------------------------------------------

# Kombu's Redis transport keeps a queue as a list named after it, plus one list per priority step.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def celery_queues() -> list[str]:
    from finetune.services import QUEUES

    return sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *QUEUES.values()})


class CeleryQueueCollector:
    """tollgate_celery_queue_depth{queue}: messages waiting, read from the broker at scrape time
    when it is Redis (absent otherwise, or when the broker does not answer)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._url = ""
        self._lock = threading.Lock()

    def _broker(self) -> Any:
        url = settings.CELERY_BROKER_URL or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        with self._lock:
            if self._client is None or self._url != url:
                import redis

                self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
                self._url = url
            return self._client

    def collect(self) -> Any:
        client = self._broker()
        if client is None:
            return
        queues = celery_queues()
        try:
            pipe = client.pipeline(transaction=False)
            for queue in queues:
                pipe.llen(queue)
                for step in _PRIORITY_STEPS:
                    pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
            lengths = pipe.execute()
        except Exception as exc:
            log.warning("metrics: the Celery broker did not answer: %s", exc)
            return
        family = GaugeMetricFamily(
            "tollgate_celery_queue_depth",
            "Celery messages waiting in the broker.",
            labels=["queue"],
        )
        per_queue = 1 + len(_PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            family.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
        yield family


_celery = CeleryQueueCollector()


class DeadLetterCollector:
    """tollgate_usage_dead_letters: usage records waiting in the dead-letter stream for the
    operator (replay or drop), read at scrape time; absent without Redis."""

    def collect(self) -> Any:
        from billing.usage_queue import dead_letter_count

        waiting = dead_letter_count()
        if waiting is None:
            return
        yield GaugeMetricFamily(
            "tollgate_usage_dead_letters",
            "Usage records the database refused, waiting for the operator to replay or drop them "
            "(python manage.py usage_dead_letters).",
            value=waiting,
        )


_dead_letters = DeadLetterCollector()


def exposition() -> bytes:
    """The text a scrape gets: every worker's samples (multiprocess) or this process's."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        registry.register(_celery)
        registry.register(_dead_letters)
        return generate_latest(registry)
    registry.register(_celery)
    registry.register(_dead_letters)
    return generate_latest(REGISTRY) + generate_latest(registry)


# --- GET /metrics -------------------------------------------------------------------------------


def allowed(request: HttpRequest) -> bool:
    """The operator's token as a Bearer, or a client address in METRICS_ALLOWED_CIDRS (the
    scraper's own address: Prometheus scrapes each host directly, not through the balancer)."""
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, supplied = header.partition(" ")
        # A token sent must be the right one, wherever it comes from.
        return bool(
            token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(supplied.strip().encode(), token.encode())
        )
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks())


_networks_cache: tuple[tuple[str, ...], list[Any]] = ((), [])


def _networks() -> list[Any]:
    global _networks_cache
    cidrs = tuple(settings.METRICS_ALLOWED_CIDRS)
    if _networks_cache[0] != cidrs:
        _networks_cache = (cidrs, [ipaddress.ip_network(c, strict=False) for c in cidrs])
    return _networks_cache[1]


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
