from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from .credentials import describe, seal
from .models import Deployment, Model, Upstream, UpstreamKind
from .services import ImportFailed, import_ollama_models


class UpstreamForm(forms.ModelForm):
    new_api_keys = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line; replaces the stored keys. `env:VAR` is kept as a reference, "
        "anything else is stored encrypted. Leave empty to keep the current keys.",
    )

    class Meta:
        model = Upstream
        fields = [
            "name",
            "kind",
            "base_url",
            "timeout",
            "is_active",
            "serves_responses",
            "workspace",
        ]

    def save(self, commit: bool = True) -> Upstream:
        upstream = super().save(commit=False)
        typed = [
            line.strip() for line in self.cleaned_data["new_api_keys"].splitlines() if line.strip()
        ]
        if typed:
            upstream.api_keys = [seal(key) for key in typed]
        if commit:
            upstream.save()
        return upstream


class OwnerFilter(admin.SimpleListFilter):
    """The operator's catalog or a customer's own (a workspace's server or private model)."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("operator", "operator"), ("workspace", "a workspace")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "operator":
            return queryset.filter(workspace__isnull=True)
        if self.value() == "workspace":
            return queryset.filter(workspace__isnull=False)
        return queryset


@admin.register(Upstream)
class UpstreamAdmin(admin.ModelAdmin):
    form = UpstreamForm
    list_display = [
        "name", "kind", "base_url", "keys", "deployment_count", "timeout", "is_active", "workspace",
    ]  # fmt: skip
    list_filter = ["kind", "is_active", OwnerFilter]
    list_select_related = ["workspace"]
    search_fields = ["name", "base_url", "workspace__slug"]
    readonly_fields = ["stored_keys", "pinned_address", "verified_at"]
    autocomplete_fields = ["workspace"]
    actions = ["import_models"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Upstream]:
        return super().get_queryset(request).annotate(deployment_total=Count("deployments"))

    @admin.display(description="deployments", ordering="deployment_total")
    def deployment_count(self, upstream: Upstream) -> int:
        return upstream.deployment_total  # type: ignore[attr-defined]

    @admin.display(description="keys")
    def keys(self, upstream: Upstream) -> int:
        return len(upstream.api_keys)

    @admin.display(description="stored keys")
    def stored_keys(self, upstream: Upstream) -> str:
        return ", ".join(describe(k) for k in upstream.api_keys) or "none"

    @admin.action(description="Import models from Ollama (/api/tags)")
    def import_models(self, request: HttpRequest, queryset: QuerySet[Upstream]) -> None:
        for upstream in queryset:
            if upstream.kind != UpstreamKind.OLLAMA:
                self.message_user(
                    request, f"{upstream.name}: not an Ollama upstream, skipped", messages.WARNING
                )
                continue
            try:
                added = import_ollama_models(upstream)
            except ImportFailed as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            names = f": {', '.join(added)}" if added else " (the catalog had them all)"
            self.message_user(
                request, f"{upstream.name}: {len(added)} model(s) added{names}", messages.SUCCESS
            )


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 0
    autocomplete_fields = ["upstream"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = [
        "name", "kind", "context_window", "input_price_per_mtok", "output_price_per_mtok",
        "quota_weight_offpeak", "quota_weight_peak", "deployment_count", "is_active", "workspace",
    ]  # fmt: skip
    list_filter = ["kind", "is_active", OwnerFilter]
    list_select_related = ["workspace"]
    search_fields = ["name", "aliases", "description"]
    autocomplete_fields = ["workspace"]
    inlines = [DeploymentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        return super().get_queryset(request).annotate(deployment_total=Count("deployments"))

    @admin.display(description="deployments", ordering="deployment_total")
    def deployment_count(self, model: Model) -> int:
        return model.deployment_total  # type: ignore[attr-defined]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "upstream",
        "upstream_model",
        "weight",
        "priority",
        "tiers",
        "is_active",
    ]
    list_filter = ["upstream", "is_active"]
    list_select_related = ["model", "upstream"]
    search_fields = ["model__name", "upstream_model", "upstream__name"]
    list_editable = ["weight", "priority", "is_active"]
    autocomplete_fields = ["model", "upstream"]
