from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse

from .ledger import generate_codes
from .models import Balance, CatalogSetting, LedgerEntry, Plan, RedemptionCode, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "code", "name", "scopes", "monthly_credits", "requests_per_5h", "requests_per_week",
        "rpm", "tpm", "max_concurrency", "prepaid", "is_public", "order",
    ]  # fmt: skip
    list_editable = ["rpm", "tpm", "max_concurrency", "is_public", "order"]
    list_filter = ["prepaid", "is_public"]
    search_fields = ["code", "name"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["workspace", "plan", "status", "current_period_start", "current_period_end"]
    list_filter = ["status", "plan"]
    search_fields = ["workspace__name", "workspace__slug"]
    autocomplete_fields = ["workspace"]


@admin.register(CatalogSetting)
class CatalogSettingAdmin(admin.ModelAdmin):
    list_display = ["key", "value"]


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):
    list_display = ["workspace", "amount", "updated_at"]
    search_fields = ["workspace__name", "workspace__slug"]
    readonly_fields = ["workspace", "amount", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # balances change only through ledger entries


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "workspace",
        "kind",
        "amount",
        "balance_after",
        "reason",
        "created_by",
    ]
    list_filter = ["kind", "created_at"]
    search_fields = ["workspace__name", "workspace__slug", "reason", "call_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=10_000, initial=10)
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12, decimal_places=2)
    batch = forms.CharField(required=False, max_length=60)


@admin.register(RedemptionCode)
class RedemptionCodeAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "amount",
        "batch",
        "created_at",
        "expires_at",
        "redeemed_by",
        "redeemed_at",
    ]
    list_filter = ["batch", "redeemed_at"]
    search_fields = ["code", "batch"]
    readonly_fields = ["redeemed_by", "redeemed_at"]
    change_list_template = "admin/billing/redemptioncode/change_list.html"

    def get_urls(self) -> list:
        custom = [
            path(
                "generate/",
                self.admin_site.admin_view(self.generate_view),
                name="billing_redemptioncode_generate",
            )
        ]
        return custom + super().get_urls()

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        form = GenerateCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            made = generate_codes(
                form.cleaned_data["count"],
                form.cleaned_data["amount"],
                batch=form.cleaned_data["batch"],
            )
            self.message_user(request, f"Generated {len(made.codes)} codes in batch {made.batch}.")
            return redirect(
                f"{reverse('admin:billing_redemptioncode_changelist')}?batch={made.batch}"
            )
        context = {**self.admin_site.each_context(request), "form": form, "title": "Generate codes"}
        return render(request, "admin/billing/generate_codes.html", context)
