from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from rest_framework.permissions import BasePermission

from accounts.models import Workspace
from proxy.errors import ApiError

from .principal import Principal


def scope_fix(principal: Principal | None, scope: str) -> str:
    """Where a missing scope is given, as a sentence with the page's address: the key's row on
    the keys page, or the billing page when the workspace's plan does not include the scope."""
    if principal is None or not principal.workspace_id:
        return ""
    slug = (
        Workspace.objects.filter(pk=principal.workspace_id).values_list("slug", flat=True).first()
    )
    if slug is None:
        return ""
    base = settings.PUBLIC_BASE_URL
    try:
        if principal.plan is not None and scope in principal.plan.scopes:
            keys = reverse("dashboard:keys", args=[slug])
            return f" Give the key this scope at {base}{keys}#key-{principal.key_id}"
        billing = reverse("dashboard:billing", args=[slug])
    except NoReverseMatch:  # a deployment without the dashboard
        return ""
    return f" The workspace's plan does not include it; change the plan at {base}{billing}"


def insufficient_scope(
    principal: Principal | None, scope: str, message: str, param: str | None = None
) -> ApiError:
    """The 403 for a key without `scope`, its message ending with where to fix it."""
    return ApiError(403, "insufficient_scope", message + scope_fix(principal, scope), param=param)


class HasScope(BasePermission):
    """The key must carry the view's `required_scope` (None = any authenticated key)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        scope = getattr(view, "required_scope", None)
        principal = request.auth
        if scope is None:
            return True
        if principal is None or scope not in principal.scopes:
            raise insufficient_scope(
                principal,
                scope,
                f"This API key lacks the '{scope}' scope required by this endpoint.",
            )
        return True
