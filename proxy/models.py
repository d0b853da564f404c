"""The gateway's catalog: upstream servers, public models, and deployments joining them."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from accounts.tenancy import WorkspaceOwnedQuerySet


class UpstreamKind(models.TextChoices):
    OLLAMA = "ollama", "Ollama"
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"


class Upstream(models.Model):
    """A model server the gateway calls. `workspace` set = a customer's own server."""

    name = models.SlugField(max_length=60)
    kind = models.CharField(max_length=12, choices=UpstreamKind.choices)
    base_url = models.URLField(max_length=300, help_text="e.g. http://127.0.0.1:11434")
    api_keys = models.JSONField(
        default=list,
        blank=True,
        help_text="Keys rotated across calls: 'env:VAR' references or encrypted values.",
    )
    timeout = models.FloatField(default=120.0, help_text="seconds to wait for the upstream")
    is_active = models.BooleanField(default=True)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="upstreams"
    )
    pinned_address = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="Set for a customer's server: the address its host resolved to when it was "
        "checked (proxy.egress). Every call connects there; the name is never resolved again.",
    )
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="when the server last answered the connection check"
    )
    serves_responses = models.BooleanField(
        "serves /v1/responses",
        default=False,
        help_text="An OpenAI-compatible upstream with its own Responses API: Responses calls are "
        "sent to it as they are (model renamed) instead of through chat completions.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(workspace__isnull=True),
                name="unique_operator_upstream",
            ),
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_workspace_upstream"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class ModelKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


CAPABILITIES = ("vision", "tools", "json", "reasoning", "streaming")


class Model(models.Model):
    """A model as customers name it, with its aliases, prices and quota weights."""

    name = models.CharField(max_length=200)
    aliases = models.JSONField(
        default=list, blank=True, help_text="Other names; glob patterns allowed (claude-3-opus*)."
    )
    kind = models.CharField(max_length=12, choices=ModelKind.choices, default=ModelKind.CHAT)
    description = models.CharField(max_length=300, blank=True)
    context_window = models.PositiveIntegerField(default=8192)
    input_price_per_mtok = models.DecimalField(
        "input price per 1M tokens", max_digits=12, decimal_places=6, default=0
    )
    output_price_per_mtok = models.DecimalField(
        "output price per 1M tokens", max_digits=12, decimal_places=6, default=0
    )
    quota_weight_offpeak = models.PositiveSmallIntegerField(default=1)
    quota_weight_peak = models.PositiveSmallIntegerField(default=1)
    capabilities = models.JSONField(default=list, blank=True, help_text=", ".join(CAPABILITIES))
    is_active = models.BooleanField(default=True)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="private_models",
        help_text="Set for a workspace's private model (fine-tunes, its own Ollama).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(workspace__isnull=True), name="unique_public_model"
            ),
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_private_model"),
        ]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One place a model is served: an upstream and the upstream's name for it."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="deployments")
    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="deployments")
    upstream_model = models.CharField(max_length=200, help_text="the model's name at the upstream")
    weight = models.PositiveIntegerField(
        default=1, help_text="share of traffic within its priority"
    )
    priority = models.PositiveSmallIntegerField(default=0, help_text="0 first; higher = fallback")
    tiers = models.JSONField(default=list, blank=True, help_text="Tiers it serves; empty = all.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["model", "priority", "-weight"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "upstream", "upstream_model"], name="unique_deployment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model.name} → {self.upstream.name}/{self.upstream_model}"


class StoredResponse(models.Model):
    """A Responses API answer kept for its workspace (`store: true`, OpenAI's default), so that
    `previous_response_id`, GET and DELETE /v1/responses/{id} work. Written once the answer has
    been delivered; purged after RESPONSES_RETENTION_DAYS (proxy.tasks)."""

    id = models.CharField(primary_key=True, max_length=80)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="stored_responses"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    response = models.JSONField(help_text="the response object as it was answered")
    input_items = models.JSONField(
        default=list, help_text="the conversation it answered, previous responses' items included"
    )

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id
