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


def test_it_gives_the_first_call_and_a_create_key_button_until_a_call_is_made(
    client, owner, settings
) -> None:
    settings.PUBLIC_BASE_URL = "https://gw.example.com"

    html = overview(client, owner)

    assert "Make your first call" in html
    assert f'href="/dashboard/w/{owner.workspace.slug}/keys/#create">Create API key</a>' in html
    assert "curl https://gw.example.com/v1/chat/completions" in html
    assert "Authorization: Bearer $TOLLGATE_API_KEY" in html


@pytest.mark.usefixtures("gateway")
def test_it_charts_refused_calls_apart_with_a_y_axis(client, owner, key_a) -> None:
    headers = {"Authorization": f"Bearer {key_a.secret}"}
    for model in ("llama3.2", "gpt-5", "llama3.2"):
        chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        wsgi_http_client().post("/v1/chat/completions", json=chat, headers=headers)

    html = overview(client, owner)

    assert "Make your first call" not in html
    legend = re.findall(r'<span class="swatch"[^>]*></span>([^<]+)</li>', html)
    assert legend[:2] == ["llama3.2", "refused"], legend
    assert "gpt-5" not in legend and "(none)" not in html
    axis = re.search(r'<div class="chart-y muted"[^>]*>(.*?)</div>', html, re.S).group(1)
    assert re.findall(r">([^<]+)</span>", axis) == ["4", "2", "0"]  # 3 calls on a 4 scale


def test_it_says_the_plan_as_a_person_would(client, owner) -> None:
    html = overview(client, owner)

    assert "The Builder plan" in html
    assert "chat_agent" not in html and "Chat and completions, Agents" in html
    assert "Tiers" not in html
