from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .models import ApiKey
from .services import revoke_key


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).filter(
                revoked_at__isnull=True
            )
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "display",
        "workspace",
        "key_status",
        "scopes",
        "monthly_cap",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [KeyStatusFilter, "revoked_at", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["name", "prefix", "workspace__name", "workspace__slug"]
    readonly_fields = [
        "id",
        "prefix",
        "last4",
        "created_at",
        "last_used_at",
        "revoked_at",
        "replaced_by",
        "created_by",
    ]
    exclude = ["secret_hash"]
    autocomplete_fields = ["workspace"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # secrets are issued from the dashboard or create_api_key, never typed in

    @admin.display(description="status")
    def key_status(self, key: ApiKey) -> str:
        return key.status()

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = already = 0
        for key in queryset:
            if key.revoked_at is not None:
                already += 1
                continue
            revoke_key(key)  # saves: the key's cached authentication is dropped (keys.signals)
            revoked += 1
        note = f" ({already} already revoked)" if already else ""
        self.message_user(
            request,
            f"Revoked {revoked} key(s){note}; the API refuses them within seconds.",
            messages.SUCCESS,
        )
