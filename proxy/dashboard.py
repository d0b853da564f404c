"""Dashboard pages of the gateway: the playground."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from agents import services as agent_services
from agents.models import Agent
from billing.services import catalog_settings
from keys.authentication import workspace_principal
from keys.principal import Principal

from .pipeline import visible_models
from .registry import ModelInfo, registry


class PlaygroundView(WorkspaceMixin, TemplateView):
    """Chat with a model through the gateway itself, streamed, with the call's cost. The page is
    a client of the public API: it sends the key the user pastes (kept in this browser tab only)
    to /v1/chat/completions, so the call is limited, metered and billed like any other."""

    template_name = "proxy/playground.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        principal = workspace_principal(self.workspace)
        context["models"] = [m for m in visible_models(principal) if m.kind == "chat"]
        context["agents"] = callable_agents(principal, context["models"])
        context["selected"] = self.request.GET.get("model", "")
        credits = catalog_settings().get("endpoint_credits") or {}
        context["credits_per_call"] = int(credits.get("chat_completions", 0))
        return context


def callable_agents(principal: Principal, models: list[ModelInfo]) -> list[tuple[Agent, ModelInfo]]:
    """The workspace's agents whose model it may call, each with that model (for its prices);
    none without the chat_agent scope."""
    if agent_services.SCOPE not in principal.scopes:
        return []
    callable_models = {m.name for m in models}
    snapshot = registry.snapshot()
    pairs = []
    for agent in Agent.objects.for_workspace(principal.workspace_id):
        model = snapshot.resolve(agent.model, principal.workspace_id)
        if model is not None and model.name in callable_models:
            pairs.append((agent, model))
    return pairs
