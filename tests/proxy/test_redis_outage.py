"""With the live counters' Redis stopped for every host (LIMITS_OUTAGE_MONEY=database), the
gateway still serves and never overspends: limits on each process's own counters, monthly
credits and the prepaid balance by conditional UPDATE in the database; when Redis is back it
catches up on what it missed. (The limits run with Redis unreachable in
tests/billing/test_limits.py, every test of it.)"""

from __future__ import annotations

import os
import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.services import create_workspace
from billing import fallback, limiter, prepaid
from billing.ledger import grant, post_entry
from billing.models import Balance, CreditUse, LedgerEntry, Plan, UsageRecord
from billing.services import catalog_settings
from keys.authentication import authenticate_secret
from keys.services import issue_key

from ..billing.test_ledger import reconciles
from ..billing.test_limits import authenticate_secret_of, principal_on
from ..conftest import UNREACHABLE_REDIS, _user
from .test_limits_http import chat, put_on


@pytest.fixture(autouse=True)
def _money_in_the_database(settings) -> None:
    """The single-host mode, where no host reaches Redis: money is taken in PostgreSQL. (The
    default refuses it while Redis is unreachable: tests/proxy/test_split_brain.py.)"""
    settings.LIMITS_OUTAGE_MONEY = "database"


def test_it_serves_and_counts_credits_in_the_database_with_redis_stopped(
    client, gateway, key_a, redis_unreachable
) -> None:
    put_on(key_a, "trial_chat", monthly_credits=2)
    first, second, third = (chat(client, key_a) for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first["X-Credits-Remaining"] == "1"
    assert second["X-Credits-Remaining"] == "0"
    assert third.status_code == 429
    assert third.json()["error"]["message"].startswith("Rate limit exceeded: monthly credits")
    assert CreditUse.objects.get(workspace=key_a.key.workspace).used == 2
    assert UsageRecord.objects.filter(status=200).count() == 2  # written at once, not queued


def test_it_gives_credits_back_for_a_failed_call_with_redis_stopped(
    client, gateway, key_a, redis_unreachable
) -> None:
    put_on(key_a, "trial_chat", monthly_credits=1)
    assert chat(client, key_a, messages=[{"role": "user", "content": "[[status:500]]"}]).status_code
    assert CreditUse.objects.get(workspace=key_a.key.workspace).used == 0
    assert chat(client, key_a).status_code == 200


def test_it_starts_counting_from_the_usage_records_when_redis_stops(
    client, gateway, key_a, settings, monkeypatch
) -> None:
    """Credits spent before the outage still count: the database's count starts from them."""
    put_on(key_a, "trial_chat", monthly_credits=2)
    assert chat(client, key_a).status_code == 200  # on the live counters
    import config.redis_client as module

    settings.REDIS_URL = UNREACHABLE_REDIS
    monkeypatch.setattr(module, "_client", None)
    assert chat(client, key_a)["X-Credits-Remaining"] == "0"
    assert chat(client, key_a).status_code == 429


def test_it_holds_and_trues_up_a_prepaid_call_on_the_ledger_with_redis_stopped(
    client, prepaid_key, redis_unreachable
) -> None:
    workspace = prepaid_key.key.workspace
    response = chat(client, prepaid_key, max_tokens=50)
    assert response.status_code == 200
    usage = response.json()["usage"]
    cost = (Decimal(usage["prompt_tokens"]) * 1000 + Decimal(usage["completion_tokens"]) * 2000) / (
        10**6
    )
    record = UsageRecord.objects.get()
    assert record.cost == cost
    assert Balance.objects.get(workspace=workspace).amount == Decimal(5) - cost
    kinds = list(LedgerEntry.objects.filter(workspace=workspace).values_list("kind", flat=True))
    assert sorted(kinds) == ["refund", "signup", "usage"]  # the hold, what it did not need
    assert reconciles(workspace)
    assert prepaid.live_balance(str(workspace.pk)) == Decimal(5) - cost


def test_it_refuses_a_prepaid_call_the_ledger_cannot_cover_with_redis_stopped(
    client, prepaid_key, redis_unreachable
) -> None:
    response = chat(client, prepaid_key)  # 4,096 output tokens at $2,000/M: more than $5
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_credit"
    assert Balance.objects.get(workspace=prepaid_key.key.workspace).amount == Decimal(5)


def test_it_answers_the_quota_endpoint_with_redis_stopped(
    client, gateway, key_a, redis_unreachable
) -> None:
    put_on(key_a, "trial_chat")
    chat(client, key_a)
    response = client.get("/api/v1/quota", HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 200
    limits = response.json()["limits"]
    assert limits["rpm"]["used"] == 1
    assert limits["monthly_credits"]["used"] == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_never_overspends_a_prepaid_balance_under_a_race_with_redis_stopped(
    catalog, redis_unreachable
) -> None:
    """50 threads at once against a balance worth exactly 10 worst cases, Redis down."""
    Plan.objects.filter(code="payg").update(max_concurrency=None, rpm=None)
    workspace = create_workspace("Race", _user("race@x.test"), Plan.objects.get(code="payg"))
    principal = authenticate_secret(issue_key(workspace, "k").secret)
    post_entry(workspace, "adjustment", Decimal("-4"))  # $1 left
    worst_case = prepaid.cost_micro(500, 500, (Decimal("100"), Decimal("100")))  # $0.10
    catalog_settings()
    admitted, refused, barrier = [], [], threading.Barrier(50)

    def one(index: int) -> None:
        barrier.wait()
        try:
            admission = limiter.admit(
                principal, f"c{index}", units_offpeak=1, units_peak=1, endpoint="chat",
                reserve_micro=worst_case,
            )  # fmt: skip
            admitted.append(admission)
        except limiter.LimitExceeded as exc:
            refused.append(exc.limit)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (len(admitted), set(refused)) == (10, {"balance"})
    assert Balance.objects.get(workspace=workspace).amount == 0
    for admission in admitted:  # each actually cost $0.03: the rest comes back
        limiter.settle(admission, tokens=300, succeeded=True, charged_micro=30_000)
    assert Balance.objects.get(workspace=workspace).amount == Decimal("0.7")
    assert reconciles(workspace)


# --- Redis comes back -----------------------------------------------------------------------


@pytest.fixture
def redis_switch(settings, monkeypatch):
    """Stop and start the live counters' Redis (as the gateway sees it) within one test."""
    import config.redis_client as module

    real = os.environ["REDIS_URL"]
    settings.LIMITS_RETRY_SECONDS = 0  # try Redis again at every call

    def turn(up: bool) -> None:
        settings.REDIS_URL = real if up else UNREACHABLE_REDIS
        monkeypatch.setattr(module, "_client", None)

    turn(True)
    return turn


def take(principal, name: str, **extra) -> limiter.Admission:
    return limiter.admit(principal, name, units_offpeak=1, units_peak=1, endpoint="chat", **extra)


@pytest.mark.redis
def test_it_catches_redis_up_on_what_it_missed(catalog, redis_switch) -> None:
    principal = principal_on(monthly_credits=10, max_concurrency=2)
    in_flight = take(principal, "before")  # admitted by Redis: credit 1, one slot
    assert in_flight.headers["X-Credits-Remaining"] == "9"
    redis_switch(False)
    limiter.settle(in_flight, tokens=10, succeeded=True)  # Redis must free its slot later
    during = take(principal, "during")
    assert during.degraded
    assert during.headers["X-Credits-Remaining"] == "8"  # the database started from Redis' 1
    limiter.settle(during, tokens=10, succeeded=True)
    assert fallback.owed() == 3  # a settlement, a call's share, its settlement
    redis_switch(True)
    after = take(principal, "after1")
    assert not after.degraded
    assert after.headers["X-Credits-Remaining"] == "7"  # Redis counted the outage's call
    assert fallback.owed() == 0
    take(principal, "after2")  # two slots: the one held before the outage was freed by the replay
    with pytest.raises(limiter.LimitExceeded) as caught:
        take(principal, "after3")
    assert caught.value.limit == "max_concurrency"


@pytest.mark.redis
def test_it_counts_calls_still_running_from_the_outage_once_redis_is_back(
    catalog, redis_switch
) -> None:
    principal = principal_on(monthly_credits=3)
    limiter.settle(take(principal, "r0"), tokens=5, succeeded=True)
    redis_switch(False)
    done, failing = take(principal, "d1"), take(principal, "d2")  # both credits, in PostgreSQL
    redis_switch(True)
    with pytest.raises(limiter.LimitExceeded) as caught:
        take(principal, "r1")  # Redis took the running calls' share first
    assert caught.value.limit == "monthly_credits"
    limiter.settle(done, tokens=5, succeeded=True)
    limiter.settle(failing, tokens=0, succeeded=False)  # its credit comes back, in Redis too
    assert take(principal, "r2").headers["X-Credits-Remaining"] == "0"


@pytest.mark.redis
def test_it_replays_each_settlement_once_and_leaves_lost_counters_to_the_rebuild(
    catalog, redis_switch
) -> None:
    from config.redis_client import redis_client

    principal = principal_on(monthly_credits=3)
    first = take(principal, "c1")
    redis_switch(False)
    limiter.settle(first, tokens=0, succeeded=False)  # owed: give the credit back
    items = list(fallback._outage.owed)
    redis_switch(True)
    client = redis_client()
    client.delete(first.keys[8])  # Redis lost the month's count meanwhile (a restart)
    fallback.catch_up(client)
    assert not client.exists(first.keys[8])  # not recreated at -1: rebuilt from the records
    for item in items:  # the same replay again (a retry after a timeout): applied once
        fallback.owe(item)
    fallback.catch_up(client)
    assert take(principal, "c2").headers["X-Credits-Remaining"] == "2"


@pytest.mark.redis
def test_it_keeps_what_redis_held_back_out_of_reach_during_an_outage(catalog, redis_switch) -> None:
    """$4 of $5 is held by a call Redis admitted; with Redis down, the ledger still says $5,
    but only $1 may be held for new calls."""
    Plan.objects.filter(code="payg").update(max_concurrency=None, rpm=None)
    workspace = create_workspace("Gap", _user("gap@x.test"), Plan.objects.get(code="payg"))
    principal = authenticate_secret(issue_key(workspace, "k").secret)
    running = take(principal, "big", reserve_micro=4_000_000)
    redis_switch(False)
    with pytest.raises(limiter.LimitExceeded) as caught:
        take(principal, "second-big", reserve_micro=2_000_000)
    assert caught.value.limit == "balance"
    assert take(principal, "small", reserve_micro=900_000).degraded
    limiter.settle(running, tokens=10, succeeded=True, charged_micro=1_000_000)


@pytest.mark.redis
def test_it_brings_a_grant_made_during_an_outage_to_the_live_balance(
    catalog, redis_switch, django_capture_on_commit_callbacks
) -> None:
    workspace = create_workspace("Payg", _user("g@x.test"), Plan.objects.get(code="payg"))
    assert prepaid.live_balance(str(workspace.pk)) == Decimal(5)  # loaded into Redis
    redis_switch(False)
    with django_capture_on_commit_callbacks(execute=True):
        grant(workspace, Decimal("2.5"), "promo")
    assert prepaid.live_balance(str(workspace.pk)) == Decimal("7.5")  # the ledger's, meanwhile
    redis_switch(True)
    principal = authenticate_secret(issue_key(workspace, "k").secret)
    limiter.admit(principal, "x", units_offpeak=1, units_peak=1, endpoint="chat", reserve_micro=0)
    assert prepaid.live_balance(str(workspace.pk)) == Decimal("7.5")


# --- a key's monthly cap ------------------------------------------------------------------------


def test_it_keeps_a_keys_cap_in_the_database_with_redis_stopped(
    client, gateway, key_a, redis_unreachable
) -> None:
    from billing.models import KeySpend

    put_on(key_a, "trial_chat")
    key_a.key.monthly_cap = 2
    key_a.key.save()
    other = issue_key(key_a.key.workspace, "other")
    assert chat(client, key_a, messages=[{"role": "user", "content": "[[status:500]]"}]).status_code
    assert [chat(client, key_a).status_code for _ in range(3)] == [200, 200, 403]
    assert KeySpend.objects.get(key_id=key_a.key.pk).used == 2  # the failed call gave its back
    assert chat(client, other).status_code == 200


@pytest.mark.redis
def test_it_catches_redis_up_on_what_a_capped_key_spent_meanwhile(catalog, redis_switch) -> None:
    from keys.models import ApiKey

    principal = principal_on(monthly_credits=100)
    ApiKey.objects.filter(pk=principal.key_id).update(monthly_cap=3)
    principal = authenticate_secret_of(principal.key_id)
    limiter.settle(take(principal, "k1"), tokens=5, succeeded=True)  # Redis: 1 of 3
    redis_switch(False)
    during = take(principal, "k2")  # PostgreSQL starts from what Redis last said: 2 of 3
    limiter.settle(during, tokens=5, succeeded=True)
    failed = take(principal, "k3")  # 3 of 3, given back below
    limiter.settle(failed, tokens=0, succeeded=False)
    redis_switch(True)
    limiter.settle(take(principal, "k4"), tokens=5, succeeded=True)  # Redis: 3 of 3
    with pytest.raises(limiter.LimitExceeded) as caught:
        take(principal, "k5")
    assert caught.value.limit == "key_monthly_cap"
