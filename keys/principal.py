"""What authentication hands the rest of the pipeline: a frozen, cacheable snapshot."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class PlanLimits:
    code: str
    scopes: tuple[str, ...]
    monthly_credits: int | None
    requests_per_5h: int | None
    requests_per_week: int | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    model_patterns: tuple[str, ...]
    tiers: tuple[str, ...]
    prepaid: bool


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated API key with its workspace, subscription and plan."""

    key_id: str
    key_name: str
    workspace_id: str
    key_scopes: tuple[str, ...]
    expires_at: float | None  # epoch seconds
    revoked: bool
    subscription_active: bool
    plan: PlanLimits | None
    key_model_patterns: tuple[str, ...] = ()
    key_rpm: int | None = None
    default_tier: str = ""
    period_anchor: float | None = None  # when the subscription's monthly periods started
    all_plan_scopes: bool = False  # the key follows its plan's scopes
    # What the key may spend per month, in the unit its counter uses: credits, or micro-dollars
    # on a prepaid plan; None = no cap.
    key_monthly_cap: int | None = None
    is_authenticated: bool = field(default=True, compare=False)

    @property
    def scopes(self) -> frozenset[str]:
        """Effective scopes: the key's, cut to what the plan still grants."""
        plan_scopes = set(self.plan.scopes) if self.plan else set()
        if self.all_plan_scopes:
            return frozenset(plan_scopes)
        return frozenset(s for s in self.key_scopes if s in plan_scopes)

    @property
    def rpm(self) -> int | None:
        plan_rpm = self.plan.rpm if self.plan else None
        if self.key_rpm is None:
            return plan_rpm
        return self.key_rpm if plan_rpm is None else min(self.key_rpm, plan_rpm)

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def allows_model(self, name: str, *, private: bool = False) -> bool:
        """The plan's and the key's model patterns allow it. A workspace's private model (its
        fine-tunes, its own Ollama's models) is its own: only the key's patterns apply."""
        plan_patterns = self.plan.model_patterns if self.plan and not private else ()
        return all(
            not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)
            for patterns in (plan_patterns, self.key_model_patterns)
        )
