from __future__ import annotations

import csv
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse

from proxy.models import Deployment, Upstream

from .ledger import generate_codes
from .models import (
    SCOPES,
    TIERS,
    Balance,
    CatalogSetting,
    LedgerEntry,
    Plan,
    RedemptionCode,
    Subscription,
    UsageRecord,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: viewed, filtered and searched, never typed in or edited."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


SCOPE_LABELS = {
    "chat": "chat — chat and completions",
    "chat_agent": "chat_agent — agents",
    "chat_agent_train": "chat_agent_train — fine-tuning",
    "local_model_access": "local_model_access — the workspace's own Ollama",
}
UNLIMITED = "Blank = unlimited."
LIMITS = ("monthly_credits", "requests_per_5h", "requests_per_week", "rpm", "tpm")


def catalog_model_names() -> list[str]:
    from proxy.models import Model

    return list(
        Model.objects.filter(workspace=None).order_by("name").values_list("name", flat=True)
    )


class PlanAdminForm(forms.ModelForm):
    """Scopes and tiers as checkboxes, models as a pick-list of the catalog's models plus any
    glob patterns, and each limit saying that blank means unlimited."""

    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        choices=[(scope, SCOPE_LABELS.get(scope, scope)) for scope in SCOPES],
        required=False,
        help_text="What the plan's keys may do.",
    )
    tiers = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        choices=[(tier, tier) for tier in TIERS],
        required=False,
        help_text="None checked = every tier.",
    )
    models = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Models",
        help_text="None checked and no pattern = every model of the catalog.",
    )
    more_patterns = forms.CharField(
        required=False,
        label="More model patterns",
        help_text="Comma-separated glob patterns, e.g. llama3*, qwen2.5:*",
    )

    class Meta:
        model = Plan
        fields = [
            "code", "name", "description", "is_public", "order", "scopes", "tiers",
            "monthly_credits", "requests_per_5h", "requests_per_week", "rpm", "tpm",
            "max_concurrency", "monthly_price", "prepaid", "signup_balance",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = catalog_model_names()
        self.fields["models"].choices = [(name, name) for name in names]
        patterns = list(self.instance.model_patterns or []) if self.instance.pk else []
        self.initial.setdefault("models", [p for p in patterns if p in names])
        self.initial.setdefault("more_patterns", ", ".join(p for p in patterns if p not in names))
        for name in LIMITS:
            self.fields[name].help_text = UNLIMITED
        self.fields["max_concurrency"].help_text = "Calls at once. " + UNLIMITED
        self.fields["monthly_price"].help_text = "Blank = price on request (not shown)."

    def clean_more_patterns(self) -> list[str]:
        raw = self.cleaned_data.get("more_patterns") or ""
        patterns = [p.strip() for p in raw.split(",") if p.strip()]
        bad = [p for p in patterns if not re.fullmatch(r"[A-Za-z0-9._:/*?\[\]!-]{1,100}", p)]
        if bad:
            raise forms.ValidationError(f"“{bad[0][:40]}” is not a model name or glob pattern.")
        return patterns

    def save(self, commit: bool = True) -> Plan:
        plan = super().save(commit=False)
        chosen = [*self.cleaned_data.get("models", []), *self.cleaned_data["more_patterns"]]
        plan.model_patterns = list(dict.fromkeys(chosen))
        if commit:
            plan.save()
        return plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanAdminForm
    list_display = [
        "code", "name", "scope_list", "monthly_credits", "requests_per_5h", "requests_per_week",
        "rpm", "tpm", "max_concurrency", "prepaid", "is_public", "order", "subscriptions",
    ]  # fmt: skip
    list_editable = ["rpm", "tpm", "max_concurrency", "is_public", "order"]
    list_filter = ["prepaid", "is_public"]
    search_fields = ["code", "name"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_public", "order"]}),
        ("What it includes", {"fields": ["scopes", "models", "more_patterns", "tiers"]}),
        ("Limits", {"fields": [*LIMITS, "max_concurrency"]}),
        ("Price", {"fields": ["monthly_price", "prepaid", "signup_balance"]}),
    ]

    class Media:
        css = {"all": ["css/admin_plans.css"]}  # the code column stays in view while scrolling

    # Saving a plan (here or in the list) orphans every cached authentication (billing.signals):
    # the gateway enforces the new limits within API_KEY_LOCAL_CACHE_SECONDS in every process.

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(subscribers=Count("subscriptions"))

    @admin.display(description="scopes")
    def scope_list(self, plan: Plan) -> str:
        return ", ".join(plan.scopes) or "—"

    @admin.display(description="subscriptions", ordering="subscribers")
    def subscriptions(self, plan: Plan) -> int:
        return plan.subscribers  # type: ignore[attr-defined]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["workspace", "plan", "status", "current_period_start", "current_period_end"]
    list_filter = ["status", "plan"]
    list_select_related = ["workspace", "plan"]
    search_fields = ["workspace__name", "workspace__slug"]
    autocomplete_fields = ["workspace"]


@admin.register(CatalogSetting)
class CatalogSettingAdmin(admin.ModelAdmin):
    list_display = ["key", "value"]


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):
    list_display = ["workspace", "amount", "updated_at"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name", "workspace__slug"]
    readonly_fields = ["workspace", "amount", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # balances change only through ledger entries


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "workspace",
        "kind",
        "amount",
        "unit",
        "balance_after",
        "reason",
        "created_by",
    ]
    list_filter = ["kind", "unit", "created_at"]
    list_select_related = ["workspace", "created_by"]
    search_fields = ["workspace__name", "workspace__slug", "reason", "call_id"]
    # Grants are made with the workspaces' "Grant credits" action, never typed in here.


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=10_000, initial=10)
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12, decimal_places=2)
    batch = forms.CharField(required=False, max_length=60, help_text="empty: batch-<date-time>")
    expires_at = forms.DateTimeField(
        required=False, help_text="YYYY-MM-DD HH:MM (server time); empty: never"
    )


class RedeemedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("open", "not redeemed"), ("redeemed", "redeemed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(redeemed_at__isnull=True)
        if self.value() == "redeemed":
            return queryset.filter(redeemed_at__isnull=False)
        return queryset


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
    list_filter = [RedeemedFilter, "batch", "redeemed_at"]
    list_select_related = ["redeemed_by"]
    search_fields = ["code", "batch"]
    readonly_fields = ["redeemed_by", "redeemed_at"]
    change_list_template = "admin/billing/redemptioncode/change_list.html"
    actions = ["export_csv"]

    @admin.action(description="Export the selected codes as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[RedemptionCode]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="redemption-codes.csv"'
        writer = csv.writer(response)
        writer.writerow(["code", "amount", "batch", "expires_at", "redeemed_at"])
        for code in queryset.order_by("batch", "code"):
            writer.writerow(
                [code.code, code.amount, code.batch, code.expires_at or "", code.redeemed_at or ""]
            )
        return response

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
                expires_at=form.cleaned_data["expires_at"],
            )
            self.message_user(
                request,
                f"Generated {len(made.codes)} codes worth ${form.cleaned_data['amount']} each "
                f"in batch {made.batch}; select them and export them as CSV to hand them out.",
            )
            return redirect(
                f"{reverse('admin:billing_redemptioncode_changelist')}?batch={made.batch}"
            )
        context = {**self.admin_site.each_context(request), "form": form, "title": "Generate codes"}
        return render(request, "admin/billing/generate_codes.html", context)


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [
            ("ok", "succeeded (< 400)"),
            ("client", "refused or client error (4xx)"),
            ("error", "error (≥ 500)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "ok":
            return queryset.filter(status__lt=400)
        if value == "client":
            return queryset.filter(status__gte=400, status__lt=500)
        if value == "error":
            return queryset.filter(status__gte=500)
        return queryset


class UpstreamFilter(admin.SimpleListFilter):
    title = "upstream"
    parameter_name = "upstream"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        found = Upstream.objects.filter(workspace=None).values_list("pk", "name")
        return [(str(pk), name) for pk, name in found] + [("none", "no deployment")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "none":
            return queryset.filter(deployment_id__isnull=True)
        if value and value.isdigit():
            ids = Deployment.objects.filter(upstream_id=int(value)).values("pk")
            return queryset.filter(deployment_id__in=ids)
        return queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    """Read-only: records are what happened, written by the gateway alone."""

    list_display = [
        "started_at", "request_id", "workspace", "endpoint", "requested_model", "served_model",
        "upstream",
        "status", "error_code", "tokens", "cost", "latency_ms", "stream",
    ]  # fmt: skip
    list_filter = [OutcomeFilter, UpstreamFilter, "endpoint", "dialect", "stream", "started_at"]
    list_select_related = ["workspace"]
    search_fields = [
        "=request_id", "=call_id", "workspace__slug", "workspace__name", "served_model",
        "requested_model", "error_code", "end_user",
    ]  # fmt: skip
    show_full_result_count = False  # no second COUNT(*) over a large table
    show_facets = admin.ShowFacets.NEVER  # nor one per filter choice

    def get_queryset(self, request: HttpRequest) -> QuerySet[UsageRecord]:
        deployment = Deployment.objects.filter(pk=OuterRef("deployment_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(upstream_name=Subquery(deployment.values("upstream__name")[:1]))
        )

    @admin.display(description="tokens in/out")
    def tokens(self, record: UsageRecord) -> str:
        return f"{record.prompt_tokens}/{record.completion_tokens}" + (
            " (est.)" if record.tokens_estimated else ""
        )

    @admin.display(description="upstream")
    def upstream(self, record: UsageRecord) -> str:
        if record.deployment_id is None:
            return "—"
        return record.upstream_name or f"deployment {record.deployment_id} (deleted)"  # type: ignore[attr-defined]
