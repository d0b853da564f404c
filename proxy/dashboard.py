"""Dashboard pages of the gateway: the playground."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from billing.services import catalog_settings
from keys.authentication import workspace_principal

from .pipeline import visible_models


class PlaygroundView(WorkspaceMixin, TemplateView):
    """Chat with a model through the gateway itself, streamed, with the call's cost. The page is
    a client of the public API: it sends the key the user pastes (kept in this browser tab only)
    to /v1/chat/completions, so the call is limited, metered and billed like any other."""

    template_name = "proxy/playground.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        principal = workspace_principal(self.workspace)
        context["models"] = [m for m in visible_models(principal) if m.kind == "chat"]
        credits = catalog_settings().get("endpoint_credits") or {}
        context["credits_per_call"] = int(credits.get("chat_completions", 0))
        return context
