"""The operator's status page: traffic, errors and latency per upstream from the usage records,
and the router's shared state (cool-downs) as every process sees it now.

Read-only and off the hot path. Figures are exact: counts are grouped in the database, and each
percentile is one ordered read at its rank (nearest-rank), so nothing large comes into Python.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.db import DatabaseError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from redis.exceptions import RedisError

from billing import usage_queue
from billing.models import UsageRecord

from .models import Deployment, Upstream
from .router import cooled_keys, deployment_states

WINDOWS = (5, 60)  # minutes
ERROR = Q(status__gte=500)  # the upstream's or the gateway's fault; 4xx are the client's


@dataclass
class Figures:
    """One row's traffic over one window."""

    minutes: int
    requests: int = 0
    errors: int = 0
    p50_ms: int | None = None
    p95_ms: int | None = None

    @property
    def per_minute(self) -> float:
        return self.requests / self.minutes

    @property
    def error_percent(self) -> float | None:
        return 100 * self.errors / self.requests if self.requests else None


@dataclass
class Row:
    label: str
    upstream: Upstream | None
    deployment_ids: list[int | None]  # [None]: the calls no deployment answered
    windows: list[Figures] = field(default_factory=list)


def percentile(records: QuerySet[UsageRecord], count: int, p: float) -> int | None:
    """The nearest-rank p-th percentile of latency_ms over `records` (`count` of them)."""
    if not count:
        return None
    rank = max(1, math.ceil(p / 100 * count))
    found = records.order_by("latency_ms").values_list("latency_ms", flat=True)[rank - 1 : rank]
    return next(iter(found), None)  # None if records went meanwhile (a workspace deleted)


def traffic(now: datetime | None = None) -> list[Row]:
    """One row per upstream that is active or had calls in the last hour, then a row for calls
    no deployment answered (refused by the gateway, or every upstream failed)."""
    now = now or timezone.now()
    since = {minutes: now - timedelta(minutes=minutes) for minutes in WINDOWS}
    recent = UsageRecord.objects.filter(started_at__gte=since[max(WINDOWS)])
    per_deployment = {
        row["deployment_id"]: row
        for row in recent.values("deployment_id").annotate(
            **{
                f"{kind}_{m}": Count("id", filter=Q(started_at__gte=since[m]) & extra)
                for m in WINDOWS
                for kind, extra in (("requests", Q()), ("errors", ERROR))
            }
        )
    }
    deployments = Deployment.objects.select_related("upstream", "upstream__workspace").filter(
        Q(pk__in=[d for d in per_deployment if d is not None])
        | Q(upstream__is_active=True, upstream__workspace=None)
    )
    by_upstream: dict[int, list[int]] = defaultdict(list)
    upstreams: dict[int, Upstream] = {}
    for deployment in deployments:
        by_upstream[deployment.upstream_id].append(deployment.pk)
        upstreams[deployment.upstream_id] = deployment.upstream
    for upstream in Upstream.objects.filter(is_active=True, workspace=None):  # idle ones too
        upstreams.setdefault(upstream.pk, upstream)
    known = {d for ids in by_upstream.values() for d in ids}
    rows = [
        Row(_label(upstreams[u]), upstreams[u], sorted(by_upstream.get(u, [])))
        for u in sorted(
            upstreams, key=lambda u: (upstreams[u].workspace_id is not None, upstreams[u].name)
        )
    ]
    gone = sorted(d for d in per_deployment if d is not None and d not in known)
    if gone:
        rows.append(Row("deleted deployments", None, gone))
    rows.append(Row("no deployment (refused, or every upstream failed)", None, [None]))
    for row in rows:
        for minutes in WINDOWS:
            figures = Figures(minutes)
            for deployment_id in row.deployment_ids:
                found = per_deployment.get(deployment_id)
                if found:
                    figures.requests += found[f"requests_{minutes}"]
                    figures.errors += found[f"errors_{minutes}"]
            if figures.requests:
                records = UsageRecord.objects.filter(started_at__gte=since[minutes])
                if row.deployment_ids == [None]:
                    records = records.filter(deployment_id__isnull=True)
                else:
                    records = records.filter(deployment_id__in=row.deployment_ids)
                figures.p50_ms = percentile(records, figures.requests, 50)
                figures.p95_ms = percentile(records, figures.requests, 95)
            row.windows.append(figures)
    return rows


def _label(upstream: Upstream) -> str:
    if upstream.workspace_id is None:
        return upstream.name
    return f"{upstream.name} (workspace {upstream.workspace.slug})"


def errors_by_code(now: datetime | None = None) -> list[dict[str, Any]]:
    """Calls that ended with status ≥ 500 in the last hour, by status and code, with the upstream
    that served them when one did."""
    now = now or timezone.now()
    last_5 = now - timedelta(minutes=5)
    rows = (
        UsageRecord.objects.filter(ERROR, started_at__gte=now - timedelta(minutes=60))
        .values("status", "error_code", "deployment_id")
        .annotate(last_60=Count("id"), last_5=Count("id", filter=Q(started_at__gte=last_5)))
    )
    names = dict(
        Deployment.objects.filter(
            pk__in={r["deployment_id"] for r in rows if r["deployment_id"]}
        ).values_list("pk", "upstream__name")
    )
    merged: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in rows:
        deployment_id = row["deployment_id"]
        where = names.get(deployment_id, "deleted deployment") if deployment_id else "—"
        key = (row["status"], row["error_code"] or "—", where)
        entry = merged.setdefault(
            key,
            {"status": key[0], "code": key[1], "upstream": where, "last_5": 0, "last_60": 0},
        )
        entry["last_5"] += row["last_5"]
        entry["last_60"] += row["last_60"]
    return sorted(merged.values(), key=lambda e: (-e["last_60"], e["status"], e["code"]))


def router_state() -> dict[str, Any]:
    """Deployments cooling down now, those with failures counting toward a cool-down, and
    upstream keys cooling down, as every process sees them."""
    deployments = list(
        Deployment.objects.filter(is_active=True, upstream__is_active=True).select_related(
            "model", "upstream"
        )
    )
    states = deployment_states(d.pk for d in deployments)
    now = timezone.now().timestamp()
    cooled, failing = [], []
    for deployment in deployments:
        state = states[deployment.pk]
        entry = {"deployment": deployment, "failures": state.recent_failures}
        if state.cooled_until:
            entry["seconds_left"] = max(1, math.ceil(state.cooled_until - now))
            cooled.append(entry)
        elif state.recent_failures:
            failing.append(entry)
    upstreams = {d.upstream_id: d.upstream for d in deployments}
    keys = cooled_keys({u: len(upstream.api_keys) for u, upstream in upstreams.items()})
    cooled_upstream_keys = [
        {
            "upstream": upstreams[u],
            "index": index,
            "seconds_left": max(1, math.ceil(until - now)),
            "of": len(upstreams[u].api_keys),
        }
        for u, found in keys.items()
        for index, until in sorted(found.items())
    ]
    return {"cooled": cooled, "failing": failing, "cooled_keys": cooled_upstream_keys}


def status_view(request: HttpRequest) -> HttpResponse:
    """/admin/status/ — wrapped in admin.site.admin_view (staff only) in config/urls.py."""
    from .status_charts import calls_per_minute

    now = timezone.now()
    rows = traffic(now)
    context = {
        **admin.site.each_context(request),
        "title": "Gateway status",
        "subtitle": None,
        "now": now,
        "windows": WINDOWS,
        "rows": rows,
        "charts": calls_per_minute(rows, now),
        "errors": errors_by_code(now),
        **router_state(),
        "dead_letter_count": usage_queue.dead_letter_count(),
        "dead_letters": usage_queue.dead_letters(20),
    }
    return render(request, "admin/operator_status.html", context)


DEAD_LETTER_ID = re.compile(r"[0-9]+-[0-9]+")  # a Redis stream entry id, e.g. 1733112000000-0


def dead_letter_action(request: HttpRequest, action: str | None, ids: list[str] | None) -> None:
    if action == "replay":
        written, refused = usage_queue.replay_dead_letters(ids)
        level = messages.WARNING if refused else messages.SUCCESS
        messages.add_message(
            request, level, f"{written} usage record(s) written, {refused} refused again."
        )
    elif action == "drop" and ids is None and request.POST.get("all") != "1":
        messages.error(request, "Choose a dead letter to drop, or drop all of them (all=1).")
    elif action == "drop":
        dropped = usage_queue.drop_dead_letters(ids)
        messages.warning(request, f"{dropped} usage record(s) dropped for good.")
    else:
        messages.error(request, "Unknown action.")


def dead_letters_view(request: HttpRequest) -> HttpResponse:
    """POST /admin/status/dead-letters/ (staff): `action` replay or drop, for the dead letter
    `id`, or for all of them without one (drop all also needs `all=1`, which the page's "Drop
    all" button sends); back to the status page with what happened."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    action = request.POST.get("action")
    entry_id = request.POST.get("id", "")
    if entry_id and not DEAD_LETTER_ID.fullmatch(entry_id):
        messages.error(request, "Not a dead letter's id (they read like 1733112000000-0).")
        return redirect("operator-status")
    ids = [entry_id] if entry_id else None
    try:
        dead_letter_action(request, action, ids)
    except (RedisError, DatabaseError) as exc:
        messages.error(
            request,
            f"Redis or the database did not answer ({type(exc).__name__}): nothing more was "
            "done; try again once they are back.",
        )
    return redirect("operator-status")
