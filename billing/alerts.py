"""Usage alerts: at 80 % and 100 % of the month's credits (credit plans) or of the prepaid
balance since its last top-up (prepaid plans), a banner on the dashboard's pages and, once per
period and threshold, an e-mail to the workspace's owners and admins (accounts.tasks)."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse

from accounts.models import Membership, Role, UsageAlert, Workspace

from .models import Balance, LedgerEntry, LedgerKind, LedgerUnit, Subscription, UsageRecord

log = logging.getLogger(__name__)
THRESHOLDS = (100, 80)  # percent, highest first
TOP_UPS = (LedgerKind.SIGNUP, LedgerKind.GRANT, LedgerKind.TOPUP, LedgerKind.REDEMPTION)


@dataclass(frozen=True)
class Alert:
    kind: str  # "credits" or "balance"
    threshold: int  # 80 or 100
    percent: int  # how much is used now
    period_start: datetime
    message: str

    @property
    def level(self) -> str:
        return "error" if self.threshold >= 100 else "warning"


def credits_used(subscription: Subscription) -> int:
    used = UsageRecord.objects.filter(
        workspace_id=subscription.workspace_id, started_at__gte=subscription.current_period_start
    ).aggregate(total=Sum("credits"))["total"]
    return int(used or 0)


def _credits_alert(subscription: Subscription) -> Alert | None:
    allotment = subscription.plan.monthly_credits
    if not allotment:
        return None
    used = credits_used(subscription)
    percent = int(100 * used / allotment)
    for threshold in THRESHOLDS:
        if percent >= threshold:
            renews = f"{subscription.current_period_end:%d %b %Y}"
            message = (
                f"All {allotment:,} of this month's credits are used: calls are refused until "
                f"they renew on {renews}, or change the plan."
                if threshold >= 100
                else f"{percent} % of this month's {allotment:,} credits are used "
                f"({used:,}); they renew on {renews}."
            )
            return Alert("credits", threshold, percent, subscription.current_period_start, message)
    return None


def _balance_alert(workspace: Workspace) -> Alert | None:
    last_top_up = (
        LedgerEntry.objects.for_workspace(workspace)
        .filter(unit=LedgerUnit.USD, kind__in=TOP_UPS, amount__gt=0)
        .order_by("-created_at", "-id")
        .first()
    )
    if last_top_up is None or last_top_up.balance_after <= 0:
        return None
    amount = Balance.objects.filter(workspace=workspace).values_list("amount", flat=True).first()
    balance = Decimal(amount or 0)
    reference = Decimal(last_top_up.balance_after)
    percent = max(0, int(100 * (reference - balance) / reference))
    for threshold in THRESHOLDS:
        if percent >= threshold:
            message = (
                "The prepaid balance is used up: calls are refused until it is topped up."
                if threshold >= 100 or balance <= 0
                else f"{percent} % of the prepaid balance is used: ${balance:,.2f} of "
                f"${reference:,.2f} left."
            )
            return Alert("balance", threshold, percent, last_top_up.created_at, message)
    return None


def alert_for(workspace: Workspace) -> Alert | None:
    """The workspace's alert now, if 80 % or more of its credits or balance is used."""
    subscription = Subscription.objects.select_related("plan").filter(workspace=workspace).first()
    if subscription is None:
        return None
    if subscription.plan.prepaid:
        return _balance_alert(workspace)
    return _credits_alert(subscription)


def managers_of(workspace: Workspace) -> list[str]:
    return list(
        Membership.objects.filter(workspace=workspace, role__in=(Role.OWNER, Role.ADMIN))
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def send_alert(workspace: Workspace, alert: Alert) -> bool:
    """E-mail the alert once per workspace, period and threshold; True when it was sent now."""
    try:
        with transaction.atomic():
            UsageAlert.objects.create(
                workspace=workspace,
                kind=alert.kind,
                threshold=alert.threshold,
                period_start=alert.period_start,
            )
    except IntegrityError:
        return False  # sent before
    addresses = managers_of(workspace)
    if not addresses:
        return False
    billing = settings.PUBLIC_BASE_URL + reverse("dashboard:billing", args=[workspace.slug])
    what = "credits" if alert.kind == "credits" else "prepaid balance"
    message = EmailMessage(
        subject=f"{workspace.name}: {alert.percent} % of the {what} used",
        body=f"{alert.message}\n\nBilling: {billing}\n",
        to=addresses,
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT or 10),
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        log.warning("usage alert for %s could not be sent", workspace.pk, exc_info=True)
        return False
    return True


def send_due_alerts() -> int:
    """Every workspace past a threshold gets its e-mail (once); the number sent."""
    sent = 0
    for subscription in Subscription.objects.select_related("workspace", "plan"):
        if not subscription.is_active:
            continue
        alert = alert_for(subscription.workspace)
        if alert is not None and send_alert(subscription.workspace, alert):
            sent += 1
    return sent
