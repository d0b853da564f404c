from __future__ import annotations

from django.contrib import admin

from .models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "workspace", "model", "created_by", "updated_at")
    list_filter = ("model",)
    search_fields = ("name", "workspace__name", "workspace__slug", "model")
    list_select_related = ("workspace", "created_by")
    raw_id_fields = ("workspace", "created_by")
    readonly_fields = ("created_at", "updated_at")
