"""Dashboard: copy-paste samples filled with this deployment's address and a chosen key's prefix.

The full key is never available after it was created (only its hash is stored), so the samples
carry the key's prefix (`sk-tg-AbCd1234…`) and say to paste the full key; a key can also be
pasted into the page, which fills the samples in the browser only (static/js/docs.js).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from django.views.generic import TemplateView

from keys.authentication import workspace_principal
from keys.models import ApiKey
from keys.secrets import KEY_PREFIX
from proxy.dialects.anthropic import default_model
from proxy.pipeline import visible_models

from .dashboard import WorkspaceMixin

SAMPLE_MODEL = "llama3.2"  # when the workspace may call no chat model


def active_keys(workspace: Any) -> list[ApiKey]:
    """The workspace's keys that work now and are not being replaced, newest first."""
    now = timezone.now()
    keys = ApiKey.objects.for_workspace(workspace).filter(revoked_at__isnull=True)
    return [k for k in keys if k.status(now) == "active"]


def sample_model(workspace: Any) -> str:
    """The catalog's default model when the workspace may call it, else its first chat model."""
    names = [m.name for m in visible_models(workspace_principal(workspace)) if m.kind == "chat"]
    preferred = default_model()
    if preferred in names:
        return preferred
    return names[0] if names else SAMPLE_MODEL


class DocsView(WorkspaceMixin, TemplateView):
    """GET ?key=<id>: samples for one of the workspace's active keys (the newest by default)."""

    template_name = "accounts/docs.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        keys = active_keys(self.workspace)
        chosen = self.request.GET.get("key", "")
        # Only this workspace's active keys are choices; anything else falls back to the newest.
        key = next((k for k in keys if str(k.pk) == chosen), keys[0] if keys else None)
        context.update(
            keys=keys,
            key=key,
            key_placeholder=f"{key.prefix}…" if key else f"{KEY_PREFIX}…",
            base_url=settings.PUBLIC_BASE_URL,
            model=sample_model(self.workspace),
        )
        return context
