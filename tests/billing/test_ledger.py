"""Prepaid balance: ledger entries that always add up, never below zero, codes redeemed once,
and calls that reserve their worst case and pay their actual cost."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from accounts.services import create_workspace
from billing import limiter, prepaid
from billing.ledger import (
    InsufficientBalance,
    RedemptionFailed,
    generate_codes,
    grant,
    post_entry,
    redeem,
)
from billing.models import Balance, LedgerEntry, Plan
from billing.services import catalog_settings
from keys.authentication import authenticate_secret
from keys.services import issue_key

from ..conftest import _user


def reconciles(workspace) -> bool:
    entries = LedgerEntry.objects.filter(workspace=workspace, unit="usd")
    total = entries.aggregate(s=Sum("amount"))["s"] or 0
    return Balance.objects.get(workspace=workspace).amount == total


@pytest.fixture
def payg(catalog):
    return create_workspace("Prepaid", _user("payg@x.test"), Plan.objects.get(code="payg"))


def test_it_gives_a_new_prepaid_workspace_its_signup_balance(payg) -> None:
    assert Balance.objects.get(workspace=payg).amount == Decimal("5")
    entry = LedgerEntry.objects.get(workspace=payg)
    assert (entry.kind, entry.amount, entry.balance_after) == ("signup", Decimal("5"), Decimal("5"))


def test_it_grants_credits_from_the_command(payg) -> None:
    out = StringIO()
    call_command(
        "grant_credits",
        "--workspace",
        str(payg.pk),
        "--amount",
        "2.5",
        "--reason",
        "goodwill",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == {
        "workspace": str(payg.pk), "amount": "2.500000", "balance": "7.500000",
    }  # fmt: skip
    assert reconciles(payg)
    assert LedgerEntry.objects.filter(workspace=payg, kind="grant", reason="goodwill").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--amount", "-1", "--reason", "x"], "--amount: must be a positive number"),
        (["--amount", "ten", "--reason", "x"], "--amount: must be a number"),
        (["--amount", "1", "--reason", " "], "--reason: must not be empty"),
    ],
)
def test_it_refuses_bad_grants(payg, args, message) -> None:
    with pytest.raises(CommandError, match=message) as caught:
        call_command("grant_credits", "--workspace", str(payg.pk), *args)
    assert caught.value.returncode == 2
    assert LedgerEntry.objects.filter(workspace=payg).count() == 1


def test_it_never_lets_the_balance_go_below_zero(payg) -> None:
    with pytest.raises(InsufficientBalance):
        post_entry(payg, "adjustment", Decimal("-5.000001"))
    post_entry(payg, "adjustment", Decimal("-5"))
    assert Balance.objects.get(workspace=payg).amount == 0
    assert reconciles(payg)
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database itself refuses
        Balance.objects.filter(workspace=payg).update(amount=Decimal("-1"))


def test_it_redeems_a_code_once(payg) -> None:
    batch = generate_codes(2, Decimal("10"))
    entry = redeem(payg, batch.codes[0].lower())  # codes are case-insensitive
    assert (entry.kind, entry.amount, entry.balance_after) == (
        "redemption",
        Decimal("10"),
        Decimal("15"),
    )
    with pytest.raises(RedemptionFailed) as caught:
        redeem(payg, batch.codes[0])
    assert caught.value.code == "code_already_redeemed"
    with pytest.raises(RedemptionFailed) as caught:
        redeem(payg, "NOPE-NOPE-NOPE-NOPE")
    assert caught.value.code == "invalid_code"
    assert reconciles(payg)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_credits_a_code_redeemed_by_ten_threads_at_once_exactly_once(catalog) -> None:
    workspace = create_workspace("Race", _user("race@x.test"), Plan.objects.get(code="payg"))
    code = generate_codes(1, Decimal("10")).codes[0]
    results, barrier = [], threading.Barrier(10)

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(redeem(workspace, code))
        except RedemptionFailed as failed:
            results.append(failed.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sum(1 for r in results if not isinstance(r, str)) == 1
    assert results.count("code_already_redeemed") == 9
    assert Balance.objects.get(workspace=workspace).amount == Decimal("15")
    assert reconciles(workspace)


def test_it_reserves_the_worst_case_exactly_under_a_race(payg) -> None:
    """A balance worth exactly 10 worst-case calls admits exactly 10 of 50 at the same instant."""
    Plan.objects.filter(code="payg").update(max_concurrency=None, rpm=None)  # only money counts
    principal = authenticate_secret(issue_key(payg, "k").secret)
    post_entry(payg, "adjustment", Decimal("-4"))  # $1 left
    prices = (Decimal("100"), Decimal("100"))  # $100 per million tokens
    worst_case = prepaid.cost_micro(500, 500, prices)  # $0.10
    catalog_settings()  # warm what admission reads, so the threads need no database
    limiter.prepare(principal)
    assert prepaid.live_balance(str(payg.pk)) == Decimal("1")
    admitted, refused, barrier = [], [], threading.Barrier(50)

    def one(index: int) -> None:
        barrier.wait()
        try:
            admitted.append(
                limiter.admit(
                    principal,
                    f"c{index}",
                    units_offpeak=1,
                    units_peak=1,
                    endpoint="chat",
                    reserve_micro=worst_case,
                )
            )
        except limiter.LimitExceeded as exc:
            refused.append(exc.limit)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (len(admitted), set(refused)) == (10, {"balance"})
    assert prepaid.live_balance(str(payg.pk)) == 0
    for admission in admitted:  # each actually cost $0.03: the rest comes back
        limiter.settle(admission, tokens=300, succeeded=True, charged_micro=30_000)
    assert prepaid.live_balance(str(payg.pk)) == Decimal("0.7")


def test_it_keeps_the_live_balance_in_step_with_grants(
    payg, django_capture_on_commit_callbacks
) -> None:
    assert prepaid.live_balance(str(payg.pk)) == Decimal("5")
    with django_capture_on_commit_callbacks(execute=True):
        grant(payg, Decimal("1.25"), "promo")
    assert prepaid.live_balance(str(payg.pk)) == Decimal("6.25")


def test_it_redeems_a_code_through_the_api(client, payg) -> None:
    key = issue_key(payg, "k")
    code = generate_codes(1, Decimal("10")).codes[0]
    first = client.post(
        "/api/v1/billing/redeem", json.dumps({"code": code}), content_type="application/json",
        HTTP_X_API_KEY=key.secret,
    )  # fmt: skip
    assert first.status_code == 200
    assert first.json() == {"object": "redemption", "amount": "10.000000", "balance": "15.000000"}
    again = client.post(
        "/api/v1/billing/redeem", json.dumps({"code": code}), content_type="application/json",
        HTTP_X_API_KEY=key.secret,
    )  # fmt: skip
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "code_already_redeemed"
    unknown = client.post(
        "/api/v1/billing/redeem", json.dumps({"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}),
        content_type="application/json", HTTP_X_API_KEY=key.secret,
    )  # fmt: skip
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "invalid_code")
    empty = client.post(
        "/api/v1/billing/redeem", "{}", content_type="application/json", HTTP_X_API_KEY=key.secret
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["message"] == "code: is required"


@pytest.mark.parametrize("code", ["ABCD-\ud800", "ABCD-\u0000-EFGH"])
def test_it_refuses_a_code_with_a_lone_surrogate_or_nul_with_a_400(client, payg, code) -> None:
    key = issue_key(payg, "k")
    response = client.post(
        "/api/v1/billing/redeem", json.dumps({"code": code}), content_type="application/json",
        HTTP_X_API_KEY=key.secret,
    )  # fmt: skip
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "code"
