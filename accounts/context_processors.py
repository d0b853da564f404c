from __future__ import annotations

from typing import Any


def workspaces(request: Any) -> dict[str, Any]:
    """The signed-in user's workspaces, for the switcher in the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from .services import memberships_of

    return {"my_memberships": memberships_of(user)}
