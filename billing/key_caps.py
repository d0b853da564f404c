"""A key's monthly cap as the dashboard shows it: in the plan's unit (credits, or USD on a
prepaid plan), with what the key spent in the current monthly period (the same period as the
workspace's monthly credits: billing.limiter.credit_period). The cap itself is enforced at
admission, with the workspace's other limits (billing/lua/admit.lua)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from .models import UsageRecord


@dataclass(frozen=True)
class CapUnit:
    """How a workspace's key caps are counted: whole credits, or dollars on a prepaid plan."""

    in_money: bool

    def format(self, amount: Decimal | int | None) -> str:
        if amount is None:
            return "no cap"
        if self.in_money:
            return f"${Decimal(amount).quantize(Decimal('0.01')):,}"
        count = int(amount)
        return f"{count:,} credit{'' if count == 1 else 's'}"


def cap_unit(workspace: Any) -> CapUnit:
    subscription = getattr(workspace, "subscription", None)
    plan = subscription.plan if subscription else None
    return CapUnit(in_money=bool(plan and plan.prepaid))


def period_start(workspace: Any, now: datetime | None = None) -> datetime:
    """The start of the workspace's current monthly period (where key caps reset)."""
    from .limiter import credit_period

    now = now or timezone.now()
    subscription = getattr(workspace, "subscription", None)
    anchor = subscription.current_period_start.timestamp() if subscription else now.timestamp()
    return credit_period(anchor, now)[0]


def spent_this_month(workspace: Any, key_ids: Iterable[Any]) -> dict[str, Decimal]:
    """What each key spent in the current period, in the cap's unit, from the usage records."""
    unit = cap_unit(workspace)
    field = "cost" if unit.in_money else "credits"
    rows = (
        UsageRecord.objects.for_workspace(workspace)
        .filter(key_id__in=list(key_ids), started_at__gte=period_start(workspace))
        .values("key_id")
        .annotate(spent=Sum(field))
    )
    return {str(row["key_id"]): Decimal(row["spent"] or 0) for row in rows}
