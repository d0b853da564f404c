"""Dashboard: the models a workspace may call, as GET /v1/models lists them for its plan.

There is no key on a dashboard page: the list is `visible_models` for the workspace itself
(`workspace_principal`: every scope of its plan, no key patterns). Public models pass the plan's
model patterns; the workspace's private models (fine-tunes, `local/*` from its own Ollama) are
its own and always count, those on its own server only when the plan grants local access.
A key's own model patterns can narrow the list further.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from keys.authentication import workspace_principal
from keys.principal import Principal

from .pipeline import LOCAL_SCOPE, visible_models
from .registry import ModelInfo


@dataclass(frozen=True)
class ModelRow:
    model: ModelInfo
    input_price: str
    output_price: str
    source: str  # "" (the catalog's), "fine-tune" or "your Ollama"


def price(value: Decimal) -> str:
    """USD per 1M tokens: at least two decimals, more only when the price has them."""
    text = format(value.normalize(), "f")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def source_of(model: ModelInfo) -> str:
    if model.workspace_id is None:
        return ""
    return "your Ollama" if model.on_own_upstream else "fine-tune"


def model_rows(principal: Principal) -> tuple[list[ModelRow], list[ModelRow]]:
    """(the workspace's own models, the catalog's models its plan allows), each by name."""
    rows = [
        ModelRow(m, price(m.input_price_per_mtok), price(m.output_price_per_mtok), source_of(m))
        for m in visible_models(principal)
    ]
    return [r for r in rows if r.source], [r for r in rows if not r.source]


class ModelsView(WorkspaceMixin, TemplateView):
    """What the workspace may call, with prices, context windows, capabilities and aliases."""

    template_name = "proxy/models.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        principal = workspace_principal(self.workspace)
        own, public = model_rows(principal)
        context.update(
            own_models=own,
            public_models=public,
            subscription_active=principal.subscription_active,
            plan_patterns=list(principal.plan.model_patterns) if principal.plan else [],
            local_scope=LOCAL_SCOPE,
            plan_has_local=LOCAL_SCOPE in principal.scopes,
        )
        return context
