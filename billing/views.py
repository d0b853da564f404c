"""Dashboard: the workspace's billing page (owners and admins only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin

from .ledger import RedemptionFailed, balance_of, redeem
from .models import LedgerEntry


class RedeemForm(forms.Form):
    code = forms.CharField(
        max_length=40,
        label="Redemption code",
        widget=forms.TextInput(attrs={"placeholder": "ABCD-EFGH-JKLM-NPQR", "autocomplete": "off"}),
    )


class BillingView(WorkspaceMixin, TemplateView):
    """The plan, the prepaid balance with its ledger, and redeeming a code."""

    template_name = "billing/billing.html"
    manage_methods = frozenset({"GET", "POST"})

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.setdefault("form", RedeemForm())
        context["balance"] = balance_of(self.workspace)
        context["ledger"] = LedgerEntry.objects.for_workspace(self.workspace)[:50]
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
