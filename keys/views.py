"""Dashboard pages for a workspace's API keys: list, create, rotate, change scopes, set a
monthly cap, revoke.

Every successful POST redirects to the list (a reload never creates a second key). A new secret
travels to that one GET through the cache, named by a nonce in the session, which the GET empties: it is shown once, with
`Cache-Control: no-store`, never in a URL, and reloading the list never shows it again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.dashboard import WorkspaceMixin
from billing.key_caps import cap_unit, spent_this_month

from .forms import (
    DEFAULT_GRACE_HOURS,
    KeyCapForm,
    KeyCreateForm,
    KeyRotateForm,
    KeyScopesForm,
    add_service_error,
)
from .models import ApiKey
from .services import (
    InvalidKeyRequest,
    issue_key,
    key_scopes,
    plan_scopes,
    revoke_key,
    rotate_key,
    set_key_monthly_cap,
    set_key_scopes,
)

WRITE = frozenset({"POST"})
REVEALED = "keys:revealed"  # the session entry naming the cache entry a new secret waits in
REVEAL_SECONDS = 120  # how long a new secret waits in the cache for the redirect's GET


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
    scopes: list[str]
    scopes_form: KeyScopesForm | None = None
    cap_form: KeyCapForm | None = None
    cap: str = "no cap"  # the monthly cap in the plan's unit, as words
    spent: str = ""  # what the key spent this month, in the same unit


def keep_to_reveal(request: HttpRequest, key: ApiKey, secret: str, title: str, note: str = ""):
    """The new secret waits in the cache for the redirect's GET, which takes it out.

    The session (a database row) holds only a random nonce naming the cache entry, never the
    secret; the entry expires after REVEAL_SECONDS if that GET never comes.
    """
    nonce = secrets.token_urlsafe(32)
    entry = {"key": str(key.pk), "secret": secret, "title": title, "note": note}
    cache.set(revealed_cache_key(nonce), entry, timeout=REVEAL_SECONDS)
    request.session[REVEALED] = nonce


def revealed_cache_key(nonce: str) -> str:
    return f"keys:revealed:{nonce}"


def take_revealed(request: HttpRequest, workspace: Any) -> Revealed | None:
    nonce = request.session.pop(REVEALED, None)
    if not isinstance(nonce, str):
        return None
    data = cache.get(revealed_cache_key(nonce))
    cache.delete(revealed_cache_key(nonce))
    if not isinstance(data, dict):
        return None
    key = ApiKey.objects.for_workspace(workspace).filter(pk=data.get("key")).first()
    if key is None:
        return None
    return Revealed(key, data["secret"], data["title"], data.get("note", ""))


class KeysPageMixin(WorkspaceMixin):
    template_name = "keys/key_list.html"
    manage_methods = WRITE

    def create_form(self, data: Any = None) -> KeyCreateForm:
        return KeyCreateForm(data, scopes=plan_scopes(self.workspace), plan=self.plan())

    def plan(self) -> Any:
        subscription = getattr(self.workspace, "subscription", None)
        return subscription.plan if subscription else None

    def scopes_form(self, key: ApiKey, data: Any = None) -> KeyScopesForm:
        initial = {"all_plan_scopes": key.all_plan_scopes, "scopes": key_scopes(key)}
        return KeyScopesForm(
            data, initial=initial, scopes=plan_scopes(self.workspace), auto_id=f"k{key.pk}-%s"
        )

    def cap_form(self, key: ApiKey, data: Any = None) -> KeyCapForm:
        return KeyCapForm(
            data,
            initial={"monthly_cap": key.monthly_cap},
            in_money=cap_unit(self.workspace).in_money,
            auto_id=f"c{key.pk}-%s",
        )

    def rows(
        self, scopes_form: KeyScopesForm | None = None, cap_form: KeyCapForm | None = None
    ) -> list[KeyRow]:
        now = timezone.now()
        keys = list(
            ApiKey.objects.for_workspace(self.workspace).select_related(
                "replaced_by", "workspace__subscription__plan"
            )
        )
        unit = cap_unit(self.workspace)
        spent = spent_this_month(self.workspace, [key.pk for key in keys])
        can_manage = self.membership.can_manage
        rows = []
        for key in keys:
            status = key.status(now)
            editable = can_manage and status in ("active", "rotating")
            form = capping = None
            if editable:
                edited = scopes_form is not None and scopes_form.auto_id == f"k{key.pk}-%s"
                form = scopes_form if edited else self.scopes_form(key)
                capped = cap_form is not None and cap_form.auto_id == f"c{key.pk}-%s"
                capping = cap_form if capped else self.cap_form(key)
            rows.append(
                KeyRow(
                    key=key,
                    status=status,
                    can_rotate=status == "active",
                    can_revoke=status in ("active", "rotating"),
                    scopes=key_scopes(key),
                    scopes_form=form,
                    cap_form=capping,
                    cap=unit.format(key.monthly_cap),
                    spent=unit.format(spent.get(str(key.pk), 0)),
                )
            )
        return rows

    def render_page(
        self,
        *,
        form: KeyCreateForm | None = None,
        revealed: Revealed | None = None,
        row_error: tuple[UUID, str] | None = None,
        scopes_form: KeyScopesForm | None = None,
        cap_form: KeyCapForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        can_manage = self.membership.can_manage
        context = {
            **self.workspace_context(),
            "rows": self.rows(scopes_form, cap_form),
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
        return self.render_page(revealed=take_revealed(request, self.workspace))

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
                    all_plan_scopes=data["all_plan_scopes"],
                )
            except InvalidKeyRequest as error:
                add_service_error(form, error)
            else:
                keep_to_reveal(
                    request, issued.key, issued.secret, f"Key “{issued.key.name}” created"
                )
                return redirect("dashboard:keys", slug=self.workspace.slug)
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
        keep_to_reveal(request, successor.key, successor.secret, f"Key “{key.name}” rotated", note)
        return redirect("dashboard:keys", slug=self.workspace.slug)


@method_decorator(never_cache, "dispatch")
class KeyScopesView(KeysPageMixin, View):
    """POST: the key's scopes become some, or all, of the plan's (within seconds everywhere)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, key_id: UUID) -> HttpResponse:
        key = self.get_owned(ApiKey, pk=key_id)
        form = self.scopes_form(key, request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                set_key_scopes(key, data["scopes"], all_plan_scopes=data["all_plan_scopes"])
            except InvalidKeyRequest as error:
                message = str(error)
                form.add_error(None, message[:1].upper() + message[1:] + ".")
            else:
                scopes = ", ".join(key_scopes(key)) or "none"
                following = " (all of the plan's)" if key.all_plan_scopes else ""
                messages.success(
                    request, f"Key “{key.name}” now has the scopes {scopes}{following}."
                )
                return redirect("dashboard:keys", slug=self.workspace.slug)
        errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return self.render_page(row_error=(key.pk, errors), scopes_form=form)


@method_decorator(never_cache, "dispatch")
class KeyCapView(KeysPageMixin, View):
    """POST: what the key may spend per month (blank: no cap), enforced within seconds."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, key_id: UUID) -> HttpResponse:
        key = self.get_owned(ApiKey, pk=key_id)
        form = self.cap_form(key, request.POST)
        if form.is_valid():
            try:
                set_key_monthly_cap(key, form.cleaned_data["monthly_cap"])
            except InvalidKeyRequest as error:
                message = str(error).removeprefix("monthly_cap: ")
                form.add_error("monthly_cap", message[:1].upper() + message[1:] + ".")
            else:
                unit = cap_unit(self.workspace)
                if key.monthly_cap is None:
                    note = "now has no monthly cap"
                else:
                    note = f"can now spend {unit.format(key.monthly_cap)} a month"
                messages.success(request, f"Key “{key.name}” {note}.")
                return redirect("dashboard:keys", slug=self.workspace.slug)
        errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return self.render_page(row_error=(key.pk, errors), cap_form=form)


@method_decorator(never_cache, "dispatch")
class KeyRevokeView(KeysPageMixin, View):
    """POST: the key stops working (within seconds, in every process)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, key_id: UUID) -> HttpResponse:
        key = self.get_owned(ApiKey, pk=key_id)
        revoke_key(key)
        messages.success(request, f"Key “{key.name}” ({key.display}) has been revoked.")
        return redirect("dashboard:keys", slug=self.workspace.slug)
