"""Dashboard pages for a workspace's API keys: list, create, rotate, revoke.

A new secret is rendered directly in the POST response (never in a URL, the session or any
GET-able page), with `Cache-Control: no-store`; reloading the list never shows it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.dashboard import WorkspaceMixin

from .forms import DEFAULT_GRACE_HOURS, KeyCreateForm, KeyRotateForm, add_service_error
from .models import ApiKey
from .services import InvalidKeyRequest, issue_key, plan_scopes, revoke_key, rotate_key

WRITE = frozenset({"POST"})


@dataclass(frozen=True)
class Revealed:
    """A secret to show once, in this response only."""

    key: ApiKey
    secret: str
    title: str
    note: str = ""


@dataclass(frozen=True)
class KeyRow:
    key: ApiKey
    status: str
    can_rotate: bool
    can_revoke: bool


class KeysPageMixin(WorkspaceMixin):
    template_name = "keys/key_list.html"
    manage_methods = WRITE

    def create_form(self, data: Any = None) -> KeyCreateForm:
        return KeyCreateForm(data, scopes=plan_scopes(self.workspace), plan=self.plan())

    def plan(self) -> Any:
        subscription = getattr(self.workspace, "subscription", None)
        return subscription.plan if subscription else None

    def rows(self) -> list[KeyRow]:
        now = timezone.now()
        keys = ApiKey.objects.for_workspace(self.workspace).select_related("replaced_by")
        rows = []
        for key in keys:
            status = key.status(now)
            rows.append(
                KeyRow(
                    key=key,
                    status=status,
                    can_rotate=status == "active",
                    can_revoke=status in ("active", "rotating"),
                )
            )
        return rows

    def render_page(
        self,
        *,
        form: KeyCreateForm | None = None,
        revealed: Revealed | None = None,
        row_error: tuple[UUID, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        can_manage = self.membership.can_manage
        context = {
            **self.workspace_context(),
            "rows": self.rows(),
            "form": (form or self.create_form()) if can_manage else None,
            "plan_scopes": plan_scopes(self.workspace),
            "revealed": revealed,
            "row_error": row_error,
            "default_grace_hours": DEFAULT_GRACE_HOURS,
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)


@method_decorator(never_cache, "dispatch")
class KeyListView(KeysPageMixin, View):
    """GET: the list (and, for owners and admins, the create form). POST: create a key."""

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        return self.render_page()

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = self.create_form(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                issued = issue_key(
                    self.workspace,
                    data["name"],
                    scopes=data["scopes"],
                    expires_at=form.expires_at(),
                    model_patterns=data["model_patterns"],
                    rpm_limit=data["rpm_limit"],
                    created_by=request.user,
                )
            except InvalidKeyRequest as error:
                add_service_error(form, error)
            else:
                return self.render_page(
                    revealed=Revealed(issued.key, issued.secret, f"Key “{issued.key.name}” created")
                )
        return self.render_page(form=form)


@method_decorator(never_cache, "dispatch")
class KeyRotateView(KeysPageMixin, View):
    """POST: a successor key (secret shown once); the old key works for the grace period."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, key_id: UUID) -> HttpResponse:
        key = self.get_owned(ApiKey, pk=key_id)
        form = KeyRotateForm(request.POST)
        if not form.is_valid():
            message = " ".join(str(e) for errors in form.errors.values() for e in errors)
            return self.render_page(row_error=(key.pk, message))
        try:
            successor = rotate_key(key, grace_seconds=form.grace_seconds(), by=request.user)
        except InvalidKeyRequest as error:
            message = str(error)
            return self.render_page(row_error=(key.pk, message[:1].upper() + message[1:] + "."))
        key.refresh_from_db()
        if key.status() == "expired":
            note = "The old key stopped working now."
        else:
            until = timezone.localtime(key.expires_at)
            note = f"The old key keeps working until {until:%Y-%m-%d %H:%M %Z}."
        return self.render_page(
            revealed=Revealed(successor.key, successor.secret, f"Key “{key.name}” rotated", note)
        )


@method_decorator(never_cache, "dispatch")
class KeyRevokeView(KeysPageMixin, View):
    """POST: the key stops working (within seconds, in every process)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, key_id: UUID) -> HttpResponse:
        key = self.get_owned(ApiKey, pk=key_id)
        revoke_key(key)
        messages.success(request, f"Key “{key.name}” ({key.display}) has been revoked.")
        return redirect("dashboard:keys", slug=self.workspace.slug)
