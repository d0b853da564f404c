"""Limits as a client sees them: headers on every proxied response, 429 with a true
Retry-After, nothing charged for a failed call, streams billed for what was delivered."""

from __future__ import annotations

import json

import openai
import pytest

from billing.models import Plan

CHAT = "/v1/chat/completions"


def put_on(key, code: str, **changes) -> Plan:
    plan = Plan.objects.get(code=code)
    for name, value in changes.items():
        setattr(plan, name, value)
    plan.save()
    subscription = key.key.workspace.subscription
    subscription.plan = plan
    subscription.save()
    return plan


def chat(client, key, content: str = "hello", **extra):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def test_it_sends_the_quota_headers_of_seed_000(client, gateway, key_a) -> None:
    put_on(key_a, "basic")
    response = chat(client, key_a)
    assert response.status_code == 200
    assert response["X-RateLimit-Limit-5h"] == "60"
    assert response["X-RateLimit-Remaining-5h"] == "59"
    assert response["X-RateLimit-Limit-Weekly"] == "300"
    assert response["X-RateLimit-Remaining-Weekly"] == "299"


def test_it_sends_per_minute_and_credit_headers(client, gateway, key_a) -> None:
    put_on(key_a, "trial_chat")
    response = chat(client, key_a)
    assert response["X-RateLimit-Limit"] == "10"
    assert response["X-RateLimit-Remaining"] == "9"
    assert int(response["X-RateLimit-Reset"]) > 0
    assert response["x-ratelimit-limit-requests"] == "10"
    assert response["x-ratelimit-remaining-requests"] == "9"
    assert response["x-ratelimit-limit-tokens"] == "10000"
    assert response["X-Credits-Limit"] == "15000"
    assert response["X-Credits-Remaining"] == "14999"


def test_it_answers_429_naming_the_limit_with_a_true_retry_after(client, gateway, key_a) -> None:
    put_on(key_a, "trial_chat", rpm=2)
    assert chat(client, key_a).status_code == 200
    assert chat(client, key_a).status_code == 200
    response = chat(client, key_a)
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["type"] == "rate_limit_error"
    assert error["message"].startswith("Rate limit exceeded: requests per minute. Retry after")
    assert response["X-RateLimit-Remaining"] == "0"


def test_it_raises_the_sdks_rate_limit_error(openai_client, key_a) -> None:
    put_on(key_a, "trial_chat", rpm=1)
    openai_client.chat.completions.create(
        model="llama3.2", messages=[{"role": "user", "content": "a"}]
    )
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "b"}]
        )


def test_it_charges_nothing_for_a_failed_upstream_call(client, gateway, key_a, upstream) -> None:
    put_on(key_a, "trial_chat")
    assert chat(client, key_a)["X-Credits-Remaining"] == "14999"
    failed = chat(client, key_a, "[[status:500]] boom")
    assert failed.status_code == 503
    assert chat(client, key_a)["X-Credits-Remaining"] == "14998"  # only the two that answered


def test_it_sets_the_headers_before_the_first_streamed_byte(client, gateway, key_a) -> None:
    put_on(key_a, "basic")
    response = chat(client, key_a, stream=True)
    assert response["X-RateLimit-Remaining-5h"] == "59"
    assert b"".join(response.streaming_content).endswith(b"data: [DONE]\n\n")


def test_it_counts_a_weighted_model_in_quota_units(client, gateway, key_a) -> None:
    put_on(key_a, "basic")
    gateway["llama"].quota_weight_offpeak = 2
    gateway["llama"].quota_weight_peak = 2
    gateway["llama"].save()
    assert chat(client, key_a)["X-RateLimit-Remaining-5h"] == "58"


def test_it_enforces_a_plan_changed_in_admin_within_seconds(client, gateway, key_a) -> None:
    """An operator lowers the plan's RPM; the next calls see it (plan saves drop cached keys)."""
    plan = put_on(key_a, "paid_chat")
    assert chat(client, key_a)["X-RateLimit-Limit"] == "100"
    plan.rpm = 1
    plan.save()
    assert chat(client, key_a).status_code == 429


@pytest.mark.redis
def test_it_settles_and_queues_usage_in_one_round_trip_with_redis(
    client, gateway, key_a, settings
) -> None:
    """Production shape: after the call, the in-flight slot is free and the record waits in
    the stream for the flusher; nothing was written to the database."""
    from billing import usage_queue
    from billing.models import UsageRecord

    settings.USAGE_QUEUE = True
    put_on(key_a, "trial_chat", max_concurrency=1)
    for _ in range(3):  # one slot: each call must have released it
        assert chat(client, key_a).status_code == 200
    assert UsageRecord.objects.count() == 0
    assert usage_queue.backlog() == 3
    assert usage_queue.flush_batch(consumer="t", block_ms=None) == 3
    assert UsageRecord.objects.filter(status=200).count() == 3


def test_it_charges_a_prepaid_call_its_tokens_at_the_models_prices(client, prepaid_key) -> None:
    from decimal import Decimal

    from billing.models import Balance, LedgerEntry, UsageRecord

    response = chat(client, prepaid_key, max_tokens=50)
    assert response.status_code == 200
    usage = response.json()["usage"]
    expected = (
        Decimal(usage["prompt_tokens"]) * 1000 + Decimal(usage["completion_tokens"]) * 2000
    ) / 10**6
    record = UsageRecord.objects.get()
    assert record.cost == expected
    entry = LedgerEntry.objects.get(kind="usage")
    assert (entry.amount, entry.call_id) == (-expected, record.call_id)
    assert Balance.objects.get(workspace=prepaid_key.key.workspace).amount == Decimal(5) - expected
    # What the header showed: the balance with this call's worst case held back.
    assert Decimal(response["X-Balance-Remaining"]) < Decimal(5) - expected


def test_it_answers_402_when_the_balance_cannot_cover_the_worst_case(client, prepaid_key) -> None:
    from billing.models import LedgerEntry

    response = chat(client, prepaid_key)  # no max_tokens: 4,096 output tokens at $2,000/M > $5
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("insufficient_credit", "insufficient_quota")
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert chat(client, prepaid_key, max_tokens=50).status_code == 200  # a smaller call fits


def test_it_takes_a_prepaid_calls_cost_from_the_live_balance(client, prepaid_key) -> None:
    from billing import prepaid
    from billing.models import Balance

    for _ in range(3):
        assert chat(client, prepaid_key, max_tokens=50).status_code == 200
    workspace = prepaid_key.key.workspace
    assert (
        prepaid.live_balance(str(workspace.pk)) == Balance.objects.get(workspace=workspace).amount
    )


def test_it_charges_the_prompt_the_upstream_counted(client, prepaid_key) -> None:
    """A long tool description is part of the prompt: held back at admission, charged in full."""
    from decimal import Decimal

    from billing.ledger import grant
    from billing.models import UsageRecord

    grant(prepaid_key.key.workspace, Decimal(100), "room for a long prompt")
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "description": "word " * 3000,
            "parameters": {"type": "object", "properties": {}},
        },
    }
    response = chat(client, prepaid_key, max_tokens=5, tools=[tool])
    assert response.status_code == 200, response.content
    usage = response.json()["usage"]
    expected = (
        Decimal(usage["prompt_tokens"]) * 1000 + Decimal(usage["completion_tokens"]) * 2000
    ) / 10**6
    assert usage["prompt_tokens"] > 3000
    assert UsageRecord.objects.get().cost == expected


@pytest.mark.redis
def test_it_settles_on_a_redis_that_forgot_the_scripts(client, gateway, key_a, settings) -> None:
    from billing import limiter
    from config.redis_client import redis_client

    settings.USAGE_QUEUE = True
    put_on(key_a, "trial_chat", max_concurrency=1)
    assert chat(client, key_a).status_code == 200
    redis_client().script_flush()  # as after a Redis restart
    limiter._scripts.clear()
    assert [chat(client, key_a).status_code for _ in range(3)] == [200, 200, 200]
    redis_client().script_flush()
    assert chat(client, key_a).status_code == 200  # admitted (admit reloads), then settled
    assert chat(client, key_a).status_code == 200  # so the single slot is free again


def credit_entries(workspace):
    from billing.models import LedgerEntry

    return LedgerEntry.objects.filter(workspace=workspace, unit="credits").order_by("id")


def test_it_enters_monthly_credits_in_the_ledger(client, gateway, key_a) -> None:
    from billing.models import Balance

    put_on(key_a, "trial_chat", monthly_credits=3)
    statuses = [chat(client, key_a).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    workspace = key_a.key.workspace
    entries = list(credit_entries(workspace).values_list("kind", "amount", "balance_after"))
    assert entries == [
        ("monthly_reset", 3, 3),
        ("usage", -1, 2),
        ("usage", -1, 1),
        ("usage", -1, 0),
    ]
    assert Balance.objects.get(workspace=workspace).credits == 0


def test_it_resets_the_credit_balance_in_the_ledger_each_period(client, gateway, key_a) -> None:
    from datetime import UTC, datetime

    import time_machine

    from billing.models import Balance

    start = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        put_on(key_a, "trial_chat", monthly_credits=5)
        subscription = key_a.key.workspace.subscription
        subscription.current_period_start = start
        subscription.save()
        assert chat(client, key_a).status_code == 200
    with time_machine.travel(datetime(2026, 2, 28, 10, 0, tzinfo=UTC), tick=False):
        assert chat(client, key_a)["X-Credits-Remaining"] == "4"  # a new month: 5 - 1
    kinds = list(credit_entries(key_a.key.workspace).values_list("kind", "amount"))
    # the leftover 4 lapses and 5 are granted: +1 brings the balance back to the allotment
    assert kinds == [("monthly_reset", 5), ("usage", -1), ("monthly_reset", 1), ("usage", -1)]
    assert Balance.objects.get(workspace=key_a.key.workspace).credits == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_spends_exactly_the_credits_when_calls_race(gateway, key_a) -> None:
    """Simultaneous 1-credit calls against 10 credits: exactly 10 answered, the credit balance
    0, and the ledger adds up to it. (20 callers: each holds one of the pool's 20 database
    connections; the 50-caller race on the limiter itself is in tests/billing/test_limits.py.)"""
    import threading

    from django.db import connection
    from django.db.models import Sum
    from django.test import Client

    from billing.models import Balance

    put_on(key_a, "trial_chat", monthly_credits=10, rpm=None, tpm=None, max_concurrency=None)
    statuses, barrier = [], threading.Barrier(20)

    def one() -> None:
        barrier.wait()
        try:
            statuses.append(chat(Client(), key_a).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert (statuses.count(200), statuses.count(429)) == (10, 10)
    workspace = key_a.key.workspace
    assert Balance.objects.get(workspace=workspace).credits == 0
    assert credit_entries(workspace).aggregate(s=Sum("amount"))["s"] == 0
