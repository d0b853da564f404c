from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from billing.ledger import grant

from .models import Invitation, Membership, PlanRequest, User, Workspace
from .team import revoke_invitations


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_active"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        (
            "Access",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class GrantForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=12, decimal_places=6)
    reason = forms.CharField(max_length=200)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    actions = ["grant_credits"]
    list_display = ["name", "slug", "plan_code", "balance", "created_at"]
    list_filter = ["subscription__plan", "subscription__status"]
    search_fields = ["name", "slug", "memberships__user__email"]
    readonly_fields = ["id", "created_at"]
    inlines = [MembershipInline]

    @admin.display(description="plan")
    def plan_code(self, workspace: Workspace) -> str:
        subscription = getattr(workspace, "subscription", None)
        return subscription.plan.code if subscription else "—"

    @admin.display(description="balance (USD)")
    def balance(self, workspace: Workspace) -> str:
        found = getattr(workspace, "balance", None)
        return str(found.amount) if found else "—"

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        return super().get_queryset(request).select_related("subscription__plan", "balance")

    @admin.action(description="Grant credits to the selected workspaces")
    def grant_credits(
        self, request: HttpRequest, queryset: QuerySet[Workspace]
    ) -> HttpResponse | None:
        form = GrantForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            # One ledger entry each, also pushed to the live balance the gateway admits against.
            for workspace in queryset:
                entry = grant(
                    workspace,
                    form.cleaned_data["amount"],
                    form.cleaned_data["reason"],
                    by=request.user,
                )
                self.message_user(
                    request, f"{workspace}: balance {entry.balance_after}", messages.SUCCESS
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant credits",
            "form": form,
            "workspaces": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/accounts/grant_credits.html", context)


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [(status, status) for status in ("pending", "accepted", "revoked", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> QuerySet:
        now = timezone.now()
        open_ = queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True)
        value = self.value()
        if value == "pending":
            return open_.filter(expires_at__gt=now)
        if value == "accepted":
            return queryset.filter(accepted_at__isnull=False)
        if value == "revoked":
            return queryset.filter(accepted_at__isnull=True, revoked_at__isnull=False)
        if value == "expired":
            return open_.filter(expires_at__lte=now)
        return queryset


SKIPPED_WORDS = {"accepted": "already used", "revoked": "already revoked", "expired": "expired"}


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Viewed, filtered and revoked here; made on the workspace's Team page (the link is shown
    to its maker once). The token's hash is neither shown nor editable."""

    list_display = [
        "workspace", "role", "email_or_dash", "note", "created_by", "created_at", "expires_at",
        "invitation_status",
    ]  # fmt: skip
    list_filter = [InvitationStatusFilter, "role", "created_at"]
    list_select_related = ["workspace", "invited_by"]
    search_fields = ["workspace__name", "workspace__slug", "email", "note", "invited_by__email"]
    fields = [
        "workspace", "role", "email", "note", "invited_by", "created_at", "expires_at",
        "accepted_at", "accepted_by", "revoked_at",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a link is only worth something to the one who sees its token

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # nothing to edit: revoke with the action

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked or expired invitations stay as the record of who was invited

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)  # the model's change permission

    @admin.display(description="email", ordering="email")
    def email_or_dash(self, invitation: Invitation) -> str:
        return invitation.email or "—"

    @admin.display(description="created by", ordering="invited_by__email")
    def created_by(self, invitation: Invitation) -> str:
        return invitation.invited_by.email if invitation.invited_by else "—"

    @admin.display(description="status")
    def invitation_status(self, invitation: Invitation) -> str:
        return invitation.status()

    @admin.action(description="Revoke selected invitations", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        outcome = revoke_invitations(queryset)
        skipped = ", ".join(
            f"{outcome.skipped[status]} {words}"
            for status, words in SKIPPED_WORDS.items()
            if outcome.skipped.get(status)
        )
        self.message_user(
            request,
            f"Revoked {outcome.revoked} invitation(s)"
            + (f"; skipped {skipped}" if skipped else "")
            + ".",
            messages.SUCCESS if outcome.revoked else messages.WARNING,
        )


@admin.register(PlanRequest)
class PlanRequestAdmin(admin.ModelAdmin):
    """Customers' requests for another plan (the billing page's "Request this plan"): change
    the workspace's subscription, then mark the request handled."""

    list_display = ["workspace", "current_plan", "plan", "requested_by", "created_at", "handled_at"]
    list_filter = [("handled_at", admin.EmptyFieldListFilter), "plan"]
    search_fields = ["workspace__name", "workspace__slug", "requested_by__email"]
    readonly_fields = ["workspace", "plan", "current_plan", "requested_by", "message", "created_at"]
    actions = ["mark_handled"]

    @admin.action(description="Mark the selected requests handled")
    def mark_handled(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = queryset.filter(handled_at__isnull=True).update(handled_at=timezone.now())
        self.message_user(request, f"{done} request(s) marked handled.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
