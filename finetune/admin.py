from __future__ import annotations

from typing import Any

from django.contrib import admin, messages

from . import services
from .models import Dataset, Job, LogLine, State


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("title", "workspace", "records", "estimated_tokens", "size_bytes", "created_at")
    list_filter = ("created_at",)
    list_select_related = ("workspace",)
    search_fields = ("title", "workspace__name", "workspace__slug", "=id")
    readonly_fields = ("file", "records", "estimated_tokens", "size_bytes")
    autocomplete_fields = ("workspace", "created_by")

    def has_add_permission(self, request: Any) -> bool:
        return False  # uploaded through the API or the dashboard, where records are validated


class LogLineInline(admin.TabularInline):
    model = LogLine
    extra = 0
    can_delete = False
    readonly_fields = ("time", "level", "message")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "workspace", "base_model", "method", "state", "progress", "created_at")
    list_filter = ("state", "method", "created_at")
    list_select_related = ("workspace",)
    search_fields = ("=id", "workspace__name", "workspace__slug", "base_model", "registered_model")
    autocomplete_fields = ("workspace", "dataset", "created_by")
    readonly_fields = ("state", "progress", "error_code", "error", "task_id", "artifact",
                       "queued_at", "started_at", "finished_at", "heartbeat_at", "registered_model")  # fmt: skip
    inlines = [LogLineInline]
    actions = ["cancel"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # created through the API or the dashboard, which queue them

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request: Any, queryset: Any) -> None:
        cancelled = 0
        finished = queryset.filter(state__in=(State.SUCCEEDED, State.FAILED, State.CANCELLED))
        skipped = finished.count()
        for job in queryset.exclude(pk__in=finished.values("pk")):
            try:
                services.cancel_job(job)
                cancelled += 1
            except Exception as exc:  # one finished meanwhile: say so, go on
                self.message_user(request, f"{job.pk}: {exc}", messages.WARNING)
        note = f"; {skipped} had already finished" if skipped else ""
        self.message_user(request, f"{cancelled} job(s) cancelled{note}.", messages.SUCCESS)
