"""The live prepaid balance: an integer of micro-dollars in the limits store (Redis), reserved at
admission for the worst case and trued up at settlement; the ledger in PostgreSQL follows
through the usage records. The live value is loaded from the ledger's balance on first use and
kept without expiry (production Redis runs with AOF, so it survives a restart)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

MICRO = Decimal("1000000")


def balance_key(workspace_id: str) -> str:
    return f"lim:{{{workspace_id}}}:balance"


def to_micro(amount: Decimal) -> int:
    return int((Decimal(amount) * MICRO).to_integral_value(rounding=ROUND_CEILING))


def from_micro(value: int) -> Decimal:
    return (Decimal(value) / MICRO).quantize(Decimal("0.000001"))


def cost_micro(prompt_tokens: int, completion_tokens: int, prices: tuple[Decimal, Decimal]) -> int:
    """USD micro-dollars for a call: prices are per million tokens, so tokens × price exactly."""
    input_price, output_price = prices
    return to_micro((prompt_tokens * input_price + completion_tokens * output_price) / MICRO)


def ensure_live_balance(workspace_id: str, client: Any = None) -> None:
    from .ledger import balance_of
    from .limiter import store

    client = client if client is not None else store()
    key = balance_key(workspace_id)
    if not client.exists(key):
        client.set(key, to_micro(balance_of(workspace_id)), nx=True)


def adjust_live_balance(workspace_id: str, amount: Decimal, change: str) -> None:
    """A grant, top-up or redemption (`change` names it) reached the ledger: the live balance
    follows, if it is loaded (else it is loaded from the ledger, which has the change, when it
    is first needed). Applied once, by the script a replay after an outage uses too."""
    from . import fallback
    from .limiter import script, store

    micro = to_micro(amount) if amount > 0 else -to_micro(-amount)
    change_once = fallback.Owed(
        "add_if_present",
        [balance_key(workspace_id), fallback.marker(workspace_id, change)],
        [micro],
    )
    if not fallback.active():
        try:
            script(change_once.script, store())(keys=change_once.keys, args=change_once.args)
            return
        except fallback.UNREACHABLE as exc:
            fallback.begin(exc)
    fallback.owe(change_once)


def live_balance(workspace_id: str) -> Decimal:
    """What a prepaid workspace can spend now: the live balance, or the ledger's while the live
    counters are unreachable (calls then draw on the ledger directly)."""
    from . import fallback
    from .ledger import balance_of
    from .limiter import store

    if not fallback.active():
        try:
            ensure_live_balance(workspace_id)
            return from_micro(int(store().get(balance_key(workspace_id)) or 0))
        except fallback.UNREACHABLE as exc:
            fallback.begin(exc)
    return balance_of(workspace_id)
