"""Dashboard: the workspace's billing page (owners and admins only): the plan, the plans to
move to (by family, a request reaching the operator), the prepaid balance on prepaid plans, and
the ledger in words."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from accounts.views import plan_limits

from .ledger import RedemptionFailed, balance_of, redeem
from .models import LedgerEntry, Plan
from .plan_requests import (
    PlanRequestRefused,
    ledger_lines,
    plan_families,
    request_plan,
    workspace_plan_requests,
)


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=40,
        label="Redemption code",
        widget=forms.TextInput(attrs={"placeholder": "ABCD-EFGH-JKLM-NPQR", "autocomplete": "off"}),
    )


class PlanRequestForm(forms.Form):
    plan = forms.IntegerField(widget=forms.HiddenInput)
    message = forms.CharField(
        max_length=500,
        required=False,
        label="Message to the operator",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional: what you need it for"}),
    )


class BillingView(WorkspaceMixin, TemplateView):
    """The plan, the plans by family, the prepaid balance (prepaid plans) and the ledger."""

    template_name = "billing/billing.html"
    manage_methods = frozenset({"GET", "POST"})

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        current = context["plan"]
        context.setdefault("form", RedeemForm())
        context["balance"] = balance_of(self.workspace)
        context["ledger"] = ledger_lines(
            list(LedgerEntry.objects.for_workspace(self.workspace)[:50])
        )
        context["limits"] = plan_limits(current) if current else []
        context["families"] = plan_families(self.workspace, current)
        context["plan_requests"] = workspace_plan_requests(self.workspace)
        return context

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        plan = getattr(getattr(self.workspace, "subscription", None), "plan", None)
        if plan is None or not plan.prepaid:
            messages.error(request, "Codes are redeemed on prepaid plans only.")
            return redirect("dashboard:billing", slug=self.workspace.slug)
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


class PlanRequestView(WorkspaceMixin, View):
    """POST: ask the operator for another plan (the admin lists it; the operators get an
    e-mail). Owners and admins only."""

    http_method_names = ["post"]
    manage_methods = frozenset({"POST"})

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = PlanRequestForm(request.POST)
        if not form.is_valid():
            raise Http404("No such plan.")
        plan = Plan.objects.filter(pk=form.cleaned_data["plan"], is_public=True).first()
        if plan is None:
            raise Http404("No such plan.")
        try:
            request_plan(
                self.workspace, plan, by=request.user, message=form.cleaned_data["message"]
            )
        except PlanRequestRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(
                request,
                f"Your request for the {plan.name} plan has reached the operator; "
                f"they will answer at {request.user.email}.",
            )
        return redirect("dashboard:billing", slug=self.workspace.slug)
