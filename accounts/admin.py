from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.ledger import grant

from .models import Membership, User, Workspace


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
