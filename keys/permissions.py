from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from proxy.errors import ApiError


class HasScope(BasePermission):
    """The key must carry the view's `required_scope` (None = any authenticated key)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        scope = getattr(view, "required_scope", None)
        principal = request.auth
        if scope is None:
            return True
        if principal is None or scope not in principal.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"This API key lacks the '{scope}' scope required by this endpoint.",
            )
        return True
