"""Agents: saved model configurations (a model, a system prompt, default parameters and tools)
that a workspace calls by id (`/api/v1/agents/{id}/chat`) or by name (`model: "agent:<name>"`)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Workspace
from accounts.tenancy import WorkspaceOwnedQuerySet


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=64, help_text='called as model "agent:<name>"')
    description = models.CharField(max_length=1000, blank=True)
    model = models.CharField(max_length=200, help_text="a catalog model name or alias")
    system_prompt = models.TextField(blank=True)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="defaults a request may override (temperature, …)"
    )
    tools = models.JSONField(default=list, blank=True, help_text="OpenAI function definitions")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="agent_name_per_workspace")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        """The model name that calls this agent on /v1/chat/completions."""
        return f"agent:{self.name}"
