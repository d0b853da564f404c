from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .credentials import describe, seal
from .models import Deployment, Model, Upstream
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
        fields = ["name", "kind", "base_url", "timeout", "is_active", "workspace"]

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


@admin.register(Upstream)
class UpstreamAdmin(admin.ModelAdmin):
    form = UpstreamForm
    list_display = ["name", "kind", "base_url", "keys", "timeout", "is_active", "workspace"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["stored_keys"]
    actions = ["import_models"]

    @admin.display(description="keys")
    def keys(self, upstream: Upstream) -> int:
        return len(upstream.api_keys)

    @admin.display(description="stored keys")
    def stored_keys(self, upstream: Upstream) -> str:
        return ", ".join(describe(k) for k in upstream.api_keys) or "none"

    @admin.action(description="Import models from Ollama (/api/tags)")
    def import_models(self, request: HttpRequest, queryset: QuerySet[Upstream]) -> None:
        for upstream in queryset:
            try:
                added = import_ollama_models(upstream)
            except ImportFailed as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(
                request, f"{upstream.name}: {len(added)} model(s) added", messages.SUCCESS
            )


class DeploymentInline(admin.TabularInline):
    model = Deployment
    extra = 0
    autocomplete_fields = ["upstream"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = [
        "name", "kind", "context_window", "input_price_per_mtok", "output_price_per_mtok",
        "quota_weight_offpeak", "quota_weight_peak", "is_active", "workspace",
    ]  # fmt: skip
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "aliases"]
    inlines = [DeploymentInline]


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
    search_fields = ["model__name", "upstream_model"]
    list_editable = ["weight", "priority", "is_active"]
