"""Dashboard: the workspace's billing page (owners and admins only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from accounts.views import plan_limits, unlimited

from .ledger import RedemptionFailed, balance_of, redeem
from .models import LedgerEntry, Plan


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=40,
        label="Redemption code",
        widget=forms.TextInput(attrs={"placeholder": "ABCD-EFGH-JKLM-NPQR", "autocomplete": "off"}),
    )


COMPARED = (  # (label, Plan attribute)
    ("Monthly credits", "monthly_credits"),
    ("Requests / 5 h", "requests_per_5h"),
    ("Requests / week", "requests_per_week"),
    ("Requests / min", "rpm"),
    ("Tokens / min", "tpm"),
    ("Concurrent", "max_concurrency"),
)


def plan_comparison(current: Plan | None) -> dict[str, Any]:
    """The public plans side by side (and the current one, even if not public)."""
    plans = list(Plan.objects.filter(is_public=True))
    if current is not None and current not in plans:
        plans.append(current)
    rows = [(label, [unlimited(getattr(plan, name)) for plan in plans]) for label, name in COMPARED]
    rows.insert(0, ("Scopes", [", ".join(plan.scopes) or "none" for plan in plans]))
    rows.append(("Price / month", [_price(plan) for plan in plans]))
    return {"plans": plans, "rows": rows}


def _price(plan: Plan) -> str:
    if plan.prepaid:
        return "pay per token"
    return "contact sales" if plan.monthly_price is None else f"${plan.monthly_price:,.2f}"


class BillingView(WorkspaceMixin, TemplateView):
    """The plan, the prepaid balance with its ledger, and redeeming a code."""

    template_name = "billing/billing.html"
    manage_methods = frozenset({"GET", "POST"})

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("form", RedeemForm())
        context["balance"] = balance_of(self.workspace)
        context["ledger"] = LedgerEntry.objects.for_workspace(self.workspace)[:50]
        current = context["plan"]
        context["limits"] = plan_limits(current) if current else []
        context["comparison"] = plan_comparison(current)
        return context

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = RedeemForm(request.POST)
        if form.is_valid():
            try:
                entry = redeem(self.workspace, form.cleaned_data["code"])
            except RedemptionFailed as failed:
                form.add_error("code", failed.message)
            else:
                messages.success(
                    request,
                    f"Code redeemed: ${entry.amount:.2f} added; balance ${entry.balance_after:.2f}.",
                )
                return redirect("dashboard:billing", slug=self.workspace.slug)
        return self.render_to_response(self.get_context_data(form=form))
