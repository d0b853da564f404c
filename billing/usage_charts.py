"""The usage page's charts: per day over the page's range and filters, stacked by model, key,
status or endpoint: requests, tokens, credits, cost at list price and errors; latency p50 and
p95 as lines. Also the readable names of endpoints, and a record's cost at list price."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from proxy.models import Model

from . import charts

BY = {"model": "model", "key": "API key", "status": "status", "endpoint": "endpoint"}
BY_CHOICES = [
    ("model", "Model"),
    ("key", "API key"),
    ("status", "Status"),
    ("endpoint", "Endpoint"),
]
ENDPOINT_NAMES = {
    "chat_completions": "Chat completions",
    "completions": "Completions",
    "responses": "Responses",
    "messages": "Messages (Anthropic)",
    "count_tokens": "Token count (Anthropic)",
    "chat": "Chat (Ollama)",
    "chat_stream": "Chat stream (Ollama)",
    "generate": "Generate (Ollama)",
    "embeddings": "Embeddings",
    "embed": "Embeddings (Ollama)",
    "agent_chat": "Agent chat",
    "dataset_create": "Fine-tune: dataset upload",
    "job_create": "Fine-tune: job created",
    "job_start": "Fine-tune: training started",
    "job_register": "Fine-tune: model registered",
}
MAX_LATENCY_SAMPLES = 200_000


def endpoint_name(endpoint: str) -> str:
    return ENDPOINT_NAMES.get(endpoint) or endpoint.replace("_", " ").capitalize()


def list_prices(names: Iterable[str]) -> dict[str, tuple[Decimal, Decimal]]:
    """(input, output) dollars per million tokens of each model, at today's catalog prices."""
    return {
        model.name: (model.input_price_per_mtok or Decimal(0), model.output_price_per_mtok or 0)
        for model in Model.objects.filter(name__in=set(names))
    }


def list_price(prompt: int, completion: int, prices: tuple[Decimal, Decimal] | None) -> Decimal:
    if prices is None:
        return Decimal(0)
    return (prompt * Decimal(prices[0]) + completion * Decimal(prices[1])) / 1_000_000


def status_label(status: int) -> str:
    if status < 400:
        return "OK"
    if status == 429:
        return "429 rate limited"
    return f"{status} error" if status >= 500 else f"{status} refused"


def _percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def key_label(key_id: Any, dialect: str, key_names: dict[Any, str]) -> str:
    if key_id is None:
        return "Playground" if dialect == "playground" else "Dashboard"
    return key_names.get(key_id, "deleted key")


def usage_charts(
    records: QuerySet, start: dt.datetime, end: dt.datetime, by: str, key_names: dict[Any, str]
) -> list[charts.Chart]:
    """The charts of `records` (already filtered), one bar per UTC day from start to end."""
    last = (end - dt.timedelta(microseconds=1)).date()
    dates = charts.last_days((last - start.date()).days + 1, last)
    rows = records.values_list(
        "started_at", "served_model", "dialect", "key_id", "status", "endpoint",
        "prompt_tokens", "completion_tokens", "credits", "latency_ms",
    )  # fmt: skip
    rows = list(rows[:MAX_LATENCY_SAMPLES])
    prices = list_prices(row[1] for row in rows if row[1])
    metrics = {name: {} for name in ("requests", "tokens", "credits", "cost", "errors")}
    latency: dict[dt.date, list[int]] = {}
    for started, served, dialect, key_id, status, endpoint, prompt, completion, credits, ms in rows:
        day = started.astimezone(dt.UTC).date()
        group = {
            "model": served or "refused",
            "key": key_label(key_id, dialect, key_names),
            "status": status_label(status),
            "endpoint": endpoint_name(endpoint),
        }[by]
        values = {
            "requests": 1,
            "tokens": prompt + completion,
            "credits": credits,
            "cost": float(list_price(prompt, completion, prices.get(served))),
            "errors": 1 if status >= 400 else 0,
        }
        for metric, value in values.items():
            if value:
                per_day = metrics[metric].setdefault(group, {})
                per_day[day] = per_day.get(day, 0) + value
        if status < 400 and served:
            latency.setdefault(day, []).append(ms)
    muted = ("refused", "other", "deleted key")
    p50 = {day: _percentile(values, 0.5) for day, values in latency.items()}
    p95 = {day: _percentile(values, 0.95) for day, values in latency.items()}
    return [
        charts.stacked("Requests", "requests", dates, metrics["requests"], muted=muted),
        charts.stacked("Tokens", "tokens", dates, metrics["tokens"], muted=muted),
        charts.stacked("Credits", "credits", dates, metrics["credits"], muted=muted),
        charts.stacked(
            "Cost at list price",
            "",
            dates,
            metrics["cost"],
            fmt=charts.dollars,
            muted=muted,
            integer=False,
        ),
        charts.stacked("Errors", "errors", dates, metrics["errors"], muted=muted),
        charts.lines("Latency of answered calls", "ms", dates, {"p50": p50, "p95": p95}),
    ]
