"""The workspace overview: a meter per limit of the plan, and 30 days of usage as charts."""

from __future__ import annotations

import re

import pytest

from tests.proxy.conftest import (  # noqa: F401 - the gateway fixtures
    _keep_the_test_connection,
    gateway,
    upstream,
    wsgi_http_client,
)


def overview(client, persona) -> str:
    client.force_login(persona.user)
    response = client.get(f"/dashboard/w/{persona.workspace.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def meter(html: str, key: str) -> str:
    found = re.search(
        rf'<div class="meter[^"]*" data-limit="{key}">(.*?)</div>\s*</div>', html, re.S
    )
    assert found, f"no {key} meter"
    return found.group(1)


@pytest.mark.usefixtures("gateway")
def test_it_shows_a_meter_for_each_limit_of_the_plan_and_the_calls_made(
    client, owner, key_a
) -> None:
    chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(2):
        answer = wsgi_http_client().post(
            "/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {key_a.secret}"}
        )
        assert answer.status_code == 200

    html = overview(client, owner)

    plan = owner.workspace.subscription.plan  # Builder: rpm, tpm, concurrency, credits
    assert "<strong>2</strong> / 200" in meter(html, "rpm")
    assert f"<strong>2</strong> / {plan.monthly_credits:,}" in meter(html, "credits")
    assert 'data-limit="5h"' not in html  # the plan has no 5-hour quota
    assert "<rect" in html and "llama3.2" in html  # the charts' bars and legend


def test_it_says_so_when_nothing_was_called_yet(client, owner) -> None:
    html = overview(client, owner)

    assert "No calls yet" in html
    assert "<strong>0</strong> / 200" in meter(html, "rpm")


def test_it_shows_a_prepaid_balance(client, owner, catalog) -> None:
    from billing.ledger import grant
    from billing.models import Plan

    subscription = owner.workspace.subscription
    subscription.plan = Plan.objects.get(code="payg")
    subscription.save()
    grant(owner.workspace, 12, reason="test")

    html = overview(client, owner)

    assert "$12.00" in meter(html, "balance")
