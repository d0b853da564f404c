"""Small charts of the operator's status page (/admin/status/): each upstream's calls per minute
over the last hour, errors (status 500 and above) apart in red."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute

from billing import charts
from billing.models import UsageRecord

MINUTES = 60
ERROR_RED = "#dc2626"


def minute_label(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def calls_per_minute(rows: list[Any], now: datetime) -> list[tuple[str, charts.Chart]]:
    """(upstream label, chart) for every row of proxy.status.traffic, the last hour by minute."""
    end = now.replace(second=0, microsecond=0)
    minutes = [end - timedelta(minutes=MINUTES - 1 - i) for i in range(MINUTES)]
    counted = (
        UsageRecord.objects.filter(started_at__gte=minutes[0])
        .annotate(minute=TruncMinute("started_at"))
        .values("deployment_id", "minute")
        .annotate(calls=Count("id"), errors=Count("id", filter=Q(status__gte=500)))
    )
    per_deployment: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for entry in counted:
        per_deployment[entry["deployment_id"]].append(entry)
    result = []
    for row in rows:
        series: charts.Series = {"answered": {}, "errors": {}}
        for deployment_id in row.deployment_ids:
            for entry in per_deployment.get(deployment_id, []):
                minute = entry["minute"].replace(second=0, microsecond=0)
                ok = entry["calls"] - entry["errors"]
                series["answered"][minute] = series["answered"].get(minute, 0) + ok
                series["errors"][minute] = series["errors"].get(minute, 0) + entry["errors"]
        chart = charts.stacked(
            "Calls per minute",
            "calls",
            minutes,
            series,
            colors={"errors": ERROR_RED},
            slot_label=minute_label,
        )
        result.append((row.label, chart))
    return result
