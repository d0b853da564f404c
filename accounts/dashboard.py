"""Dashboard pages resolve their workspace here, and only here.

The workspace comes from the URL's `slug`, looked up *through the signed-in user's Membership*:
a workspace the user does not belong to is a 404, indistinguishable from one that does not
exist. Pages that change things (keys, billing, team) require `membership.can_manage` (owner or
admin) for their writing methods, else 403.

    class UsageView(WorkspaceMixin, TemplateView):
        template_name = "billing/usage.html"        # gets workspace, membership, subscription, plan

    class KeyRevokeView(WorkspaceMixin, View):
        manage_methods = frozenset({"POST"})       # members get 403 on POST
        def post(self, request, slug, key_id):
            key = self.get_owned(ApiKey, pk=key_id)  # another workspace's key: 404
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponseBase

from .models import Membership, Workspace


def get_membership(request: HttpRequest, slug: str) -> Membership:
    """The signed-in user's membership of the workspace `slug` (workspace, subscription and plan
    preloaded); Http404 when the user is anonymous, not a member, or the workspace is missing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise Http404("No such workspace.")
    try:
        return Membership.objects.select_related(
            "workspace", "workspace__subscription", "workspace__subscription__plan"
        ).get(user=user, workspace__slug=slug)
    except Membership.DoesNotExist as exc:
        raise Http404("No such workspace.") from exc


def require_manager(membership: Membership) -> None:
    """PermissionDenied (403) unless the member is an owner or admin of the workspace."""
    if not membership.can_manage:
        raise PermissionDenied("Only owners and admins can do this.")


class WorkspaceMixin(LoginRequiredMixin):
    """For class-based views under `/dashboard/w/<slug>/`.

    Sets `self.membership` and `self.workspace` before the handler runs; anonymous users are
    redirected to the login page, non-members get 404, and members without `can_manage` get 403
    for any method in `manage_methods`. Adds `workspace`, `membership`, `subscription`, `plan`
    and `can_manage` to the template context (for views with `get_context_data`, and through
    `workspace_context()` for views that render by hand).
    """

    slug_url_kwarg = "slug"
    manage_methods: frozenset[str] = frozenset()

    membership: Membership
    workspace: Workspace

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.membership = get_membership(request, kwargs[self.slug_url_kwarg])
        self.workspace = self.membership.workspace
        if request.method in self.manage_methods:
            require_manager(self.membership)
        return super().dispatch(request, *args, **kwargs)

    def get_owned(self, model: type[models.Model], **lookup: Any) -> Any:
        """A workspace-owned object of this workspace, else Http404 (see accounts.tenancy)."""
        return model.objects.get_owned(self.workspace, **lookup)  # type: ignore[attr-defined]

    def workspace_context(self) -> dict[str, Any]:
        from billing.alerts import alert_for

        subscription = getattr(self.workspace, "subscription", None)
        return {
            "workspace": self.workspace,
            "membership": self.membership,
            "can_manage": self.membership.can_manage,
            "subscription": subscription,
            "plan": subscription.plan if subscription else None,
            "usage_alert": alert_for(self.workspace),  # the banner at 80 % and 100 %
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context.update(self.workspace_context())
        return context
