"""The billing page's plans: cards grouped by family, the current plan marked; a request for
another plan that reaches the operator (the admin's list and an e-mail); the ledger in words."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse

from accounts.models import PlanRequest, User, Workspace

from .models import LedgerEntry, LedgerKind, Plan

log = logging.getLogger(__name__)

SCOPE_NAMES = {
    "chat": "Chat and completions",
    "chat_agent": "Agents",
    "chat_agent_train": "Fine-tuning",
    "local_model_access": "Your own models",
}
FAMILIES = (  # (key, heading, what the family is)
    ("credits", "Monthly plans", "A monthly allowance of credits; each call uses some."),
    ("quota", "Request plans", "A number of requests every 5 hours and every week."),
    ("prepaid", "Pay as you go", "Calls are paid per token from a prepaid balance."),
)


class PlanRequestRefused(ValueError):
    """Why a plan cannot be requested (user-facing)."""


def family_of(plan: Plan) -> str:
    if plan.prepaid:
        return "prepaid"
    if plan.requests_per_5h is not None or plan.requests_per_week is not None:
        return "quota"
    return "credits"


def count(value: int | None, one: str, many: str) -> str:
    if value is None:
        return f"unlimited {many}"
    return f"{value:,} {one if value == 1 else many}"


def plan_facts(plan: Plan) -> list[str]:
    """What a plan gives, in short phrases a customer reads."""
    facts = [", ".join(SCOPE_NAMES.get(s, s) for s in plan.scopes) or "No API access"]
    if plan.monthly_credits is not None:
        facts.append(count(plan.monthly_credits, "credit", "credits") + " a month")
    if plan.requests_per_5h is not None:
        facts.append(count(plan.requests_per_5h, "request", "requests") + " every 5 hours")
    if plan.requests_per_week is not None:
        facts.append(count(plan.requests_per_week, "request", "requests") + " a week")
    if plan.rpm is not None:
        facts.append(count(plan.rpm, "request", "requests") + " a minute")
    if plan.max_concurrency is not None:
        facts.append(count(plan.max_concurrency, "call", "calls") + " at once")
    if plan.signup_balance:
        facts.append(f"${plan.signup_balance:,.2f} to start with")
    return facts


def price_of(plan: Plan) -> str:
    if plan.prepaid:
        return "per token used"
    if plan.monthly_price is None:
        return ""
    return "free" if plan.monthly_price == 0 else f"${plan.monthly_price:,.2f} a month"


@dataclass
class PlanCard:
    plan: Plan
    current: bool
    requested: bool
    price: str
    facts: list[str]


@dataclass
class Family:
    key: str
    heading: str
    blurb: str
    cards: list[PlanCard] = field(default_factory=list)

    @property
    def prices_on_request(self) -> bool:
        return any(not card.price for card in self.cards)


def plan_families(workspace: Workspace, current: Plan | None) -> list[Family]:
    """The public plans (and the current one) as cards, by family, in the catalog's order."""
    plans = list(Plan.objects.filter(is_public=True).order_by("order", "pk"))
    if current is not None and current not in plans:
        plans.append(current)
    pending = set(
        PlanRequest.objects.for_workspace(workspace)
        .filter(handled_at__isnull=True)
        .values_list("plan_id", flat=True)
    )
    families = {key: Family(key, heading, blurb) for key, heading, blurb in FAMILIES}
    for plan in plans:
        families[family_of(plan)].cards.append(
            PlanCard(
                plan,
                current is not None and plan.pk == current.pk,
                plan.pk in pending,
                price_of(plan),
                plan_facts(plan),
            )
        )
    return [family for family in families.values() if family.cards]


def request_plan(workspace: Workspace, plan: Plan, *, by: User, message: str = "") -> PlanRequest:
    """Record the request and e-mail the operators (after commit). Refused for the current plan,
    a plan not offered, or one already requested and not yet handled."""
    subscription = getattr(workspace, "subscription", None)
    current = subscription.plan if subscription else None
    if current is not None and current.pk == plan.pk:
        raise PlanRequestRefused("This is already your plan.")
    if not plan.is_public:
        raise PlanRequestRefused("This plan is not offered.")
    pending = PlanRequest.objects.for_workspace(workspace).filter(
        plan=plan, handled_at__isnull=True
    )
    if pending.exists():
        raise PlanRequestRefused(f"The {plan.name} plan is already requested; the operator has it.")
    request = PlanRequest.objects.create(
        workspace=workspace,
        plan=plan,
        current_plan=current,
        requested_by=by,
        message=message.strip()[:500],
    )
    transaction.on_commit(lambda: notify_operators(request))
    return request


def operator_addresses() -> list[str]:
    return list(
        User.objects.filter(is_superuser=True, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def notify_operators(request: PlanRequest) -> bool:
    """The operators' e-mail about a plan request; False (logged) when it could not be sent."""
    addresses = operator_addresses()
    if not addresses:
        return False
    admin_url = settings.PUBLIC_BASE_URL + reverse("admin:accounts_planrequest_changelist")
    current = request.current_plan.name if request.current_plan else "no plan"
    who = request.requested_by.email if request.requested_by else "someone"
    body = (
        f"{who} asks to move the workspace “{request.workspace.name}” "
        f"({request.workspace.slug}) from {current} to the {request.plan.name} plan.\n\n"
        + (f"Their message: {request.message}\n\n" if request.message else "")
        + f"Plan requests in the admin: {admin_url}\n"
    )
    message = EmailMessage(
        subject=f"Plan request: {request.workspace.name} → {request.plan.name}",
        body=body,
        to=addresses,
        reply_to=[request.requested_by.email] if request.requested_by else None,
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT or 10),
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        log.warning("plan request %s: the e-mail could not be sent", request.pk, exc_info=True)
        return False
    return True


def _amount(entry: LedgerEntry) -> str:
    if entry.unit == "credits":
        value = int(entry.amount)
        sign = "+" if value > 0 else "−" if value < 0 else ""
        return f"{sign}{count(abs(value), 'credit', 'credits')}"
    value = Decimal(entry.amount)
    sign = "+" if value > 0 else "−" if value < 0 else ""
    places = 2 if abs(value) >= Decimal("0.01") or value == 0 else 6
    return f"{sign}${abs(value):,.{places}f}"


def _balance(entry: LedgerEntry) -> str:
    if entry.unit == "credits":
        return count(int(entry.balance_after), "credit", "credits") + " left"
    return f"${Decimal(entry.balance_after):,.2f} left"


WORDS = {
    LedgerKind.SIGNUP: "Welcome grant",
    LedgerKind.GRANT: "Granted by the operator",
    LedgerKind.TOPUP: "Top-up",
    LedgerKind.REDEMPTION: "Code redeemed",
    LedgerKind.REFUND: "Refund",
    LedgerKind.ADJUSTMENT: "Correction",
    LedgerKind.MONTHLY_RESET: "Monthly credits renewed",
}


@dataclass
class LedgerLine:
    entry: LedgerEntry
    what: str
    amount: str
    balance: str


def ledger_lines(entries: list[LedgerEntry]) -> list[LedgerLine]:
    """Ledger entries as sentences: "Calls used 3 credits", "Top-up +$10.00", …"""
    lines = []
    for entry in entries:
        if entry.kind == LedgerKind.USAGE:
            used = _amount(entry).lstrip("−+")
            what = f"Calls used {used}" if entry.unit == "credits" else f"Calls cost {used}"
        else:
            what = WORDS.get(entry.kind, entry.get_kind_display())
        lines.append(LedgerLine(entry, what, _amount(entry), _balance(entry)))
    return lines


def workspace_plan_requests(workspace: Workspace) -> Any:
    return PlanRequest.objects.for_workspace(workspace).select_related("plan")[:5]
