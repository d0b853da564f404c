from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Workspace
from accounts.tenancy import WorkspaceOwnedQuerySet

SCOPES = ("chat", "chat_agent", "chat_agent_train", "local_model_access")
TIERS = ("slow", "medium", "fast", "ludicrous")


class Plan(models.Model):
    """What a subscription buys: scopes, quotas, limits and credits. `None` means unlimited."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)
    scopes = models.JSONField(default=list, help_text=f"Subset of {', '.join(SCOPES)}")
    monthly_credits = models.PositiveBigIntegerField(null=True, blank=True)
    requests_per_5h = models.PositiveIntegerField(null=True, blank=True)
    requests_per_week = models.PositiveIntegerField(null=True, blank=True)
    rpm = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    tpm = models.PositiveBigIntegerField("tokens per minute", null=True, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    model_patterns = models.JSONField(
        "models",
        default=list,
        blank=True,
        help_text="Allowed model name patterns (glob, e.g. llama3*); empty = all.",
    )
    tiers = models.JSONField(default=list, blank=True, help_text="Allowed tiers; empty = all.")
    prepaid = models.BooleanField(default=False, help_text="Calls draw on a prepaid balance.")
    signup_balance = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    is_public = models.BooleanField(default=True)
    order = models.IntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELLED = "cancelled", "Cancelled"


class Subscription(models.Model):
    """A workspace's current plan. One per workspace; changing plan updates it."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="subscription"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    current_period_start = models.DateTimeField(default=timezone.now)
    current_period_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.workspace} on {self.plan.code} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status == SubscriptionStatus.ACTIVE


class CatalogSetting(models.Model):
    """One key of the catalog's `settings` section (endpoint_credits, default_plan, …)."""

    key = models.SlugField(max_length=60, primary_key=True)
    value = models.JSONField()

    def __str__(self) -> str:
        return self.key


class UsageRecord(models.Model):
    """One call that passed authentication, successful or not. Lean: no prompts, no catalog copies."""

    call_id = models.CharField(max_length=40, unique=True, help_text="ours; inserts are idempotent")
    request_id = models.CharField(max_length=128, db_index=True, help_text="X-Request-Id")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="usage_records")
    key_id = models.UUIDField(null=True, blank=True)
    end_user = models.CharField(max_length=256, blank=True)
    endpoint = models.CharField(max_length=40)
    dialect = models.CharField(max_length=12)
    requested_model = models.CharField(max_length=200, blank=True)
    served_model = models.CharField(max_length=200, blank=True)
    deployment_id = models.BigIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=20, blank=True)
    stream = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=60, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)
    credits = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    quota_units = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    incomplete = models.BooleanField(default=False, help_text="the stream was cut before its end")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["workspace", "started_at"], name="usage_by_workspace_time"),
            models.Index(fields=["started_at"], name="usage_by_time"),  # operator's views
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.endpoint} {self.status}"


class Balance(models.Model):
    """A workspace's prepaid balance in USD, and its monthly credits left in the current period:
    each always the sum of its ledger entries (USD entries, credit entries)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="balance")
    amount = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    credits = models.BigIntegerField(default=0)
    credits_period = models.DateTimeField(
        null=True, blank=True, help_text="start of the credit period `credits` belongs to"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="balance_never_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(credits__gte=0), name="credits_never_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace}: ${self.amount}"


class CreditUse(models.Model):
    """Monthly credits spent in one period, counted in PostgreSQL while the live counters
    (Redis) are unreachable: admission takes credits with a conditional UPDATE on this row, so
    every process of every host shares one exact count. In normal operation Redis counts."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    used = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "period_start"], name="one_credit_use_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.period_start:%Y-%m-%d}: {self.used}"


class KeySpend(models.Model):
    """What one API key spent of its monthly cap in one period (credits, or micro-dollars on a
    prepaid plan), counted in PostgreSQL while the live counters (Redis) are unreachable, as
    CreditUse counts the workspace's credits. In normal operation Redis counts."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key_id = models.UUIDField()
    period_start = models.DateTimeField()
    used = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key_id", "period_start"], name="one_key_spend_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key_id} {self.period_start:%Y-%m-%d}: {self.used}"


class LedgerKind(models.TextChoices):
    SIGNUP = "signup", "Sign-up grant"
    GRANT = "grant", "Operator grant"
    TOPUP = "topup", "Top-up"
    REDEMPTION = "redemption", "Redemption code"
    USAGE = "usage", "Usage"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"
    MONTHLY_RESET = "monthly_reset", "Monthly reset"


class LedgerUnit(models.TextChoices):
    USD = "usd", "USD (prepaid balance)"
    CREDITS = "credits", "Monthly credits"


class LedgerEntry(models.Model):
    """One change of a workspace's balance. Never edited; corrections are new entries."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    unit = models.CharField(max_length=8, choices=LedgerUnit.choices, default=LedgerUnit.USD)
    amount = models.DecimalField(max_digits=14, decimal_places=6, help_text="signed, in `unit`")
    balance_after = models.DecimalField(max_digits=14, decimal_places=6)
    reason = models.CharField(max_length=200, blank=True)
    call_id = models.CharField(max_length=40, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="ledger_by_workspace_time")
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+} {self.unit} → {self.balance_after}"


class RedemptionCode(models.Model):
    """A code worth an amount, redeemable once by one workspace."""

    code = models.CharField(max_length=40, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    batch = models.CharField(max_length=60, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    redeemed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.code[:4]}… ${self.amount}"
