"""Split-brain: a host that cannot reach Redis while others can must not spend money they also
spend. By default (LIMITS_OUTAGE_MONEY=refuse) it refuses calls that take monthly credits or a
prepaid hold with 503 and a Retry-After, and keeps serving calls that spend nothing."""

from __future__ import annotations

from decimal import Decimal

from billing.models import Balance, CreditUse, LedgerEntry, UsageRecord

from .test_limits_http import chat, put_on


def test_it_refuses_calls_that_spend_monthly_credits_without_redis(
    client, gateway, key_a, redis_unreachable, upstream
):
    put_on(key_a, "trial_chat", monthly_credits=5)
    response = chat(client, key_a)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "limits_unavailable"
    assert "credit balance" in response.json()["error"]["message"]
    assert int(response["Retry-After"]) >= 1
    assert upstream.requests == []
    assert not CreditUse.objects.exists()
    assert UsageRecord.objects.get().status == 503  # recorded, nothing spent


def test_it_refuses_prepaid_calls_without_redis(client, prepaid_key, redis_unreachable, upstream):
    response = chat(client, prepaid_key, max_tokens=50)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "limits_unavailable"
    assert upstream.requests == []
    workspace = prepaid_key.key.workspace
    assert Balance.objects.get(workspace=workspace).amount == Decimal(5)
    assert not LedgerEntry.objects.filter(workspace=workspace, kind="usage").exists()


def test_it_keeps_serving_calls_that_spend_nothing_without_redis(
    client, gateway, key_a, redis_unreachable, settings
):
    put_on(key_a, "trial_chat", monthly_credits=None, rpm=2)
    first, second, third = (chat(client, key_a) for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429  # this host's own counters still limit it


def test_it_spends_from_the_database_when_told_no_host_reaches_redis(
    client, gateway, key_a, redis_unreachable, settings
):
    settings.LIMITS_OUTAGE_MONEY = "database"
    put_on(key_a, "trial_chat", monthly_credits=1)
    assert chat(client, key_a).status_code == 200
    assert chat(client, key_a).status_code == 429
    assert CreditUse.objects.get(workspace=key_a.key.workspace).used == 1
