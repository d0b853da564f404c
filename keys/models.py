from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import Workspace
from accounts.tenancy import WorkspaceOwnedQuerySet

MAX_MONTHLY_CAP = Decimal(10**8) - 1  # credits or USD: far above any real month, fits numeric(14,6)


class ApiKey(models.Model):
    """A workspace's API key. The secret itself is never stored, only its HMAC."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=20, db_index=True, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    scopes = models.JSONField(default=list, help_text="Subset of the plan's scopes.")
    all_plan_scopes = models.BooleanField(
        "all of the plan's scopes",
        default=False,
        help_text="The key has every scope of its plan, including those a plan change adds.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    model_patterns = models.JSONField(
        "allowed models", default=list, blank=True, help_text="Glob patterns; empty = the plan's."
    )
    rpm_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Lower than the plan's RPM; empty = the plan's."
    )
    monthly_cap = models.DecimalField(
        "monthly cap",
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(MAX_MONTHLY_CAP)],
        help_text="What the key may spend per month, in the plan's unit (credits, or USD on a "
        "prepaid plan); empty = no cap.",
    )
    default_tier = models.CharField(max_length=20, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        return f"{self.prefix}…{self.last4}"

    def status(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.replaced_by_id is not None:
            return "rotating"
        return "active"
