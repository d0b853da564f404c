"""What the dashboard's overview shows: a meter per limit of the plan (from the live counters,
as GET /api/v1/quota reads them) and the last 30 days of usage per day and model, as charts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.timesince import timeuntil

from keys.authentication import workspace_principal

from . import charts
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

    @property
    def frees_up(self) -> str:
        """When used requests start to count no more, as a person says it."""
        if self.resets_at is None:
            return ""
        seconds = (self.resets_at - timezone.now()).total_seconds()
        if seconds < 60:
            return "within a minute"
        return "in " + timeuntil(self.resets_at)


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


REFUSED = "refused"  # calls no model served (unknown model, limits, errors before routing)


def usage_charts(workspace: Any, days: int = CHART_DAYS) -> tuple[charts.Chart, charts.Chart]:
    """Requests and tokens per day for the last `days` days, stacked by the model that served
    them; calls that no model served are one grey "refused" series."""
    dates = charts.last_days(days, timezone.localdate())
    rows = (
        UsageRecord.objects.filter(workspace=workspace, started_at__date__gte=dates[0])
        .annotate(day=TruncDate("started_at"))
        .values("day", "served_model")
        .annotate(requests=Count("id"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")))
    )
    requests: charts.Series = {}
    tokens: charts.Series = {}
    for row in rows:
        model = row["served_model"] or REFUSED
        for series, value in ((requests, row["requests"]), (tokens, row["tokens"] or 0)):
            per_day = series.setdefault(model, {})
            per_day[row["day"]] = per_day.get(row["day"], 0) + value
    return (
        charts.stacked("Requests per day", "requests", dates, requests, muted=(REFUSED,)),
        charts.stacked("Tokens per day", "tokens", dates, tokens, muted=(REFUSED,)),
    )
