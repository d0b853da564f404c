"""The prepaid balance and its ledger: every change is an entry, written with the balance in one
transaction by a conditional UPDATE, so concurrent changes never lose one another and the
database refuses any that would take the balance below zero."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Workspace

from .models import Balance, LedgerEntry, LedgerKind, LedgerUnit, RedemptionCode

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class InsufficientBalance(Exception):
    pass


class RedemptionFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def balance_of(workspace: Any) -> Decimal:
    workspace_id = getattr(workspace, "pk", workspace)
    found = (
        Balance.objects.filter(workspace_id=workspace_id).values_list("amount", flat=True).first()
    )
    return found if found is not None else Decimal("0")


@transaction.atomic
def post_entry(
    workspace: Workspace,
    kind: str,
    amount: Decimal,
    *,
    reason: str = "",
    by: Any = None,
    call_id: str | None = None,
    sync_live: bool = True,
    keep: Decimal = Decimal(0),
) -> LedgerEntry:
    """Change the balance by `amount` (signed) and record why. InsufficientBalance if it would
    go below zero (or below `keep`, for a charge); nothing is written then."""
    amount = Decimal(amount)
    floor = keep - amount if amount < 0 else -amount
    Balance.objects.get_or_create(workspace=workspace)
    try:
        with transaction.atomic():
            updated = Balance.objects.filter(workspace=workspace, amount__gte=floor).update(
                amount=F("amount") + amount
            )
    except IntegrityError as exc:
        raise InsufficientBalance(f"balance cannot go below zero (change {amount})") from exc
    if not updated:
        raise InsufficientBalance(f"balance cannot go below zero (change {amount})")
    after = Balance.objects.values_list("amount", flat=True).get(workspace=workspace)
    entry = LedgerEntry.objects.create(
        workspace=workspace,
        kind=kind,
        amount=amount,
        balance_after=after,
        reason=reason[:200],
        created_by=by if getattr(by, "pk", None) else None,
        call_id=call_id,
    )
    if sync_live:
        transaction.on_commit(lambda: _sync_live_balance(str(workspace.pk), amount, entry.pk))
    return entry


def _sync_live_balance(workspace_id: str, amount: Decimal, entry_id: int) -> None:
    from .prepaid import adjust_live_balance

    adjust_live_balance(workspace_id, amount, f"entry:{entry_id}")


def charge_usage(workspace_id: str, cost: Decimal, call_id: str) -> LedgerEntry | None:
    """A prepaid call's cost, from its usage record. The live balance paid it at settlement
    already; the ledger follows. Never below zero: admission held the cost back first."""
    workspace = Workspace.objects.get(pk=workspace_id)
    try:
        return post_entry(
            workspace, LedgerKind.USAGE, -cost, reason="usage", call_id=call_id, sync_live=False
        )
    except InsufficientBalance:
        # The ledger lags the live balance (a grant not yet seen by it); record what it can.
        available = balance_of(workspace)
        if available <= 0:
            return None
        return post_entry(
            workspace, LedgerKind.USAGE, -available, reason="usage (capped)", call_id=call_id,
            sync_live=False,
        )  # fmt: skip


@transaction.atomic
def spend_credits(
    workspace_id: str, period_start: datetime, allotment: int, spent: int, calls: int
) -> LedgerEntry | None:
    """Monthly credits spent by `calls` calls of the period that began at `period_start`, as
    the usage records reach the database (the live count is in Redis; this is its record). The
    first spend of a new period is preceded by its monthly reset: the leftover lapses and the
    plan's allotment is granted. Spends of a period already closed are not entered again."""
    Balance.objects.get_or_create(workspace_id=workspace_id)
    balance = Balance.objects.select_for_update().get(workspace_id=workspace_id)
    if balance.credits_period is not None and period_start < balance.credits_period:
        return None
    if balance.credits_period is None or period_start > balance.credits_period:
        _credit_entry(
            balance, LedgerKind.MONTHLY_RESET, allotment - balance.credits,
            f"credits for the period from {period_start:%Y-%m-%d}",
        )  # fmt: skip
        balance.credits_period = period_start
    taken = min(spent, balance.credits)  # never below zero (a plan lowered mid-period)
    entry = _credit_entry(
        balance, LedgerKind.USAGE, -taken, f"{calls} call{'s' if calls != 1 else ''}"
    )
    balance.save(update_fields=["credits", "credits_period", "updated_at"])
    return entry


def _credit_entry(balance: Balance, kind: str, amount: int, reason: str) -> LedgerEntry:
    balance.credits += amount
    return LedgerEntry.objects.create(
        workspace_id=balance.workspace_id,
        kind=kind,
        unit=LedgerUnit.CREDITS,
        amount=amount,
        balance_after=balance.credits,
        reason=reason,
    )


def grant(workspace: Workspace, amount: Decimal, reason: str, *, by: Any = None) -> LedgerEntry:
    if Decimal(amount) <= 0:
        raise ValueError("amount: must be positive")
    return post_entry(workspace, LedgerKind.GRANT, Decimal(amount), reason=reason, by=by)


def signup_grant(workspace: Workspace, amount: Decimal) -> LedgerEntry | None:
    if not amount or Decimal(amount) <= 0:
        return None
    return post_entry(workspace, LedgerKind.SIGNUP, Decimal(amount), reason="sign-up balance")


@dataclass(frozen=True)
class CodeBatch:
    batch: str
    codes: list[str]


def generate_codes(
    count: int, amount: Decimal, *, batch: str = "", expires_at: Any = None
) -> CodeBatch:
    if not 1 <= count <= 10_000:
        raise ValueError("count: from 1 to 10000")
    if Decimal(amount) <= 0:
        raise ValueError("amount: must be positive")
    batch = batch or timezone.now().strftime("batch-%Y%m%d-%H%M%S")
    codes = [
        "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(4))
        for _ in range(count)
    ]
    RedemptionCode.objects.bulk_create(
        RedemptionCode(code=c, amount=amount, batch=batch, expires_at=expires_at) for c in codes
    )
    return CodeBatch(batch, codes)


@transaction.atomic
def redeem(workspace: Workspace, code: str) -> LedgerEntry:
    """Credit the code's amount once: the UPDATE that claims it succeeds for one caller only."""
    normalized = code.strip().upper()
    now = timezone.now()
    claimed = (
        RedemptionCode.objects.filter(code=normalized, redeemed_at__isnull=True)
        .exclude(expires_at__lte=now)
        .update(redeemed_at=now, redeemed_by=workspace)
    )
    if not claimed:
        found = RedemptionCode.objects.filter(code=normalized).first()
        if found is None:
            raise RedemptionFailed("invalid_code", "This code does not exist.")
        if found.redeemed_at is not None:
            raise RedemptionFailed("code_already_redeemed", "This code has already been redeemed.")
        raise RedemptionFailed("code_expired", "This code has expired.")
    amount = RedemptionCode.objects.values_list("amount", flat=True).get(code=normalized)
    return post_entry(workspace, LedgerKind.REDEMPTION, amount, reason=f"code {normalized[:4]}…")
