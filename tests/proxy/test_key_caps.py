"""A key's monthly cap, as a client sees it: the call that would cross it is refused with 403
`key_limit_reached` in the endpoint's own format (OpenRouter's "key limit"), naming the cap and
when it resets; the workspace's other keys keep working; the next monthly period starts anew;
on a prepaid plan the cap is money, held at admission like the balance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import anthropic
import openai
import pytest
import time_machine

from billing.models import Plan
from keys.services import issue_key

from .conftest import sdk_client

CHAT = "/v1/chat/completions"


def chat(client, key, content: str = "hello", **extra):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(
        CHAT,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.secret}",
    )


def cap(key, amount) -> None:
    key.key.monthly_cap = amount
    key.key.save()


def on_trial_chat(key) -> None:
    subscription = key.key.workspace.subscription
    subscription.plan = Plan.objects.get(code="trial_chat")  # 1 credit a chat call
    subscription.save()


def test_it_refuses_the_call_that_would_cross_the_cap_and_not_the_other_keys(
    client, gateway, key_a
) -> None:
    on_trial_chat(key_a)
    cap(key_a, 2)
    other = issue_key(key_a.key.workspace, "other")
    assert chat(client, key_a).status_code == 200
    assert chat(client, key_a).status_code == 200
    refused = chat(client, key_a)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("key_limit_reached", "permission_error")
    assert "monthly cap of 2 credits" in error["message"]
    assert " resets at " in error["message"] and "Keys page" in error["message"]
    assert "Retry-After" not in refused
    assert refused["X-Credits-Remaining"] == "14998"  # the refused call took nothing
    answered = chat(client, other)
    assert answered.status_code == 200
    assert answered["X-Credits-Remaining"] == "14997"


def test_it_gives_a_failed_call_back_to_the_cap(client, gateway, key_a) -> None:
    on_trial_chat(key_a)
    cap(key_a, 1)
    assert chat(client, key_a, "[[status:500]] boom").status_code == 503
    assert chat(client, key_a).status_code == 200
    assert chat(client, key_a).status_code == 403


def test_it_starts_the_next_month_anew(client, gateway, key_a) -> None:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        subscription = key_a.key.workspace.subscription
        subscription.current_period_start = datetime(2026, 11, 1, tzinfo=UTC)
        subscription.save()
        on_trial_chat(key_a)
        cap(key_a, 1)
        assert chat(client, key_a).status_code == 200
        refused = chat(client, key_a)
        assert "resets at 2026-12-01 00:00 UTC" in refused.json()["error"]["message"]
    with time_machine.travel(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), tick=False):
        assert chat(client, key_a).status_code == 403
    with time_machine.travel(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), tick=False):
        assert chat(client, key_a).status_code == 200
        assert chat(client, key_a).status_code == 403


def test_it_raises_the_sdks_permission_errors(gateway, key_a) -> None:
    on_trial_chat(key_a)
    cap(key_a, 0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk_client(openai.OpenAI, "http://testserver/v1", key_a).chat.completions.create(
            model="llama3.2", messages=[{"role": "user", "content": "a"}]
        )
    assert caught.value.code == "key_limit_reached"
    with pytest.raises(anthropic.PermissionDeniedError) as refused:
        sdk_client(anthropic.Anthropic, "http://testserver", key_a).messages.create(
            model="claude-3-5-haiku", max_tokens=10, messages=[{"role": "user", "content": "a"}]
        )
    assert refused.value.body["error"]["type"] == "permission_error"
    assert "monthly cap of 0 credits" in refused.value.body["error"]["message"]


def test_it_caps_a_prepaid_key_in_money_held_at_admission(client, prepaid_key) -> None:
    """llama3.2 at $1,000/$2,000 per million tokens: a 10-token answer holds $0.122 (the
    prompt's upper bound and 10 tokens) and costs $0.024; a 100-token one holds $0.302."""
    cap(prepaid_key, Decimal("0.15"))
    assert chat(client, prepaid_key, max_tokens=10).status_code == 200  # spent $0.024
    refused = chat(client, prepaid_key, max_tokens=100)  # $0.024 + $0.302 > $0.15
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "key_limit_reached"
    assert "monthly cap of $0.15 " in error["message"]
    assert refused["X-Balance-Remaining"] == "4.976000"  # it took nothing
    assert chat(client, prepaid_key, max_tokens=10).status_code == 200  # $0.024 + $0.122 fits
    assert chat(client, prepaid_key, max_tokens=10).status_code == 403  # $0.048 + $0.122
