from __future__ import annotations

from django.contrib import admin

from .models import CatalogSetting, Plan, Subscription


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
