"""What the dashboard's overview shows: a meter per limit of the plan (from the live counters,
as GET /api/v1/quota reads them) and the last 30 days of usage per day and model, as charts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from keys.authentication import workspace_principal

from .models import Balance, UsageRecord
from .quota import quota_snapshot

METERS = (  # (limit in quota_snapshot, data-limit, label)
    ("requests_per_5h", "5h", "Requests in 5 hours"),
    ("requests_per_week", "week", "Requests this week"),
    ("monthly_credits", "credits", "Monthly credits"),
    ("rpm", "rpm", "Requests per minute"),
    ("tpm", "tpm", "Tokens per minute"),
    ("max_concurrency", "concurrency", "Requests in flight"),
)
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563")
CHART_DAYS = 30


@dataclass
class Meter:
    key: str
    label: str
    used: int
    limit: int
    resets_at: dt.datetime | None

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 100

    @property
    def level(self) -> str:
        return "full" if self.percent >= 100 else "high" if self.percent >= 80 else "ok"


def meters(workspace: Any) -> list[Meter]:
    """A meter for every limit the plan sets (an unlimited one has none)."""
    limits = quota_snapshot(workspace_principal(workspace))["limits"]
    return [
        Meter(key, label, entry["used"], entry["limit"], _moment(entry["resets_at"]))
        for name, key, label in METERS
        if (entry := limits.get(name)) and entry["limit"] is not None
    ]


def _moment(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None


def balance_of(workspace: Any) -> Balance | None:
    return Balance.objects.filter(workspace=workspace).first()


@dataclass
class Bar:
    x: float
    y: float
    height: float
    color: str
    title: str


@dataclass
class Chart:
    title: str
    unit: str
    bars: list[Bar]
    legend: list[tuple[str, str]]
    peak: int
    first_day: str
    last_day: str
    width: int = 600
    height: int = 160
    bar_width: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.bars


def usage_charts(workspace: Any, days: int = CHART_DAYS) -> tuple[Chart, Chart]:
    """Requests and tokens per day for the last `days` days, stacked by model (SVG-ready)."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    rows = (
        UsageRecord.objects.filter(
            workspace=workspace,
            started_at__date__gte=start,
        )
        .annotate(day=TruncDate("started_at"))
        .values("day", "served_model", "requested_model")
        .annotate(requests=Count("id"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")))
    )
    per_model: dict[str, dict[dt.date, tuple[int, int]]] = {}
    for row in rows:
        model = row["served_model"] or row["requested_model"] or "(none)"
        day = per_model.setdefault(model, {})
        requests, tokens = day.get(row["day"], (0, 0))
        day[row["day"]] = (requests + row["requests"], tokens + (row["tokens"] or 0))
    models = sorted(per_model, key=lambda m: -sum(r for r, _ in per_model[m].values()))
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    return (
        _chart("Requests per day", "requests", dates, models, per_model, 0),
        _chart("Tokens per day", "tokens", dates, models, per_model, 1),
    )


def _chart(
    title: str,
    unit: str,
    dates: list[dt.date],
    models: list[str],
    per_model: dict[str, dict[dt.date, tuple[int, int]]],
    index: int,
) -> Chart:
    chart = Chart(title, unit, [], [], 0, f"{dates[0]:%d %b}", f"{dates[-1]:%d %b}")
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    totals = [sum(per_model[m].get(d, (0, 0))[index] for m in models) for d in dates]
    chart.peak = max(totals, default=0)
    if not chart.peak:
        return chart
    slot = chart.width / len(dates)
    chart.bar_width = round(max(slot - 2, 1), 1)
    for i, day in enumerate(dates):
        base = chart.height
        for model in models:
            value = per_model[model].get(day, (0, 0))[index]
            if not value:
                continue
            height = value / chart.peak * (chart.height - 4)
            base -= height
            chart.bars.append(
                Bar(
                    round(i * slot + 1, 1),
                    round(base, 1),
                    round(height, 1),
                    colors[model],
                    f"{day:%d %b}: {value:,} {unit}, {model}",
                )
            )
    chart.legend = [(m, colors[m]) for m in models]
    return chart
