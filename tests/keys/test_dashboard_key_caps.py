"""The keys page's monthly cap: an owner or admin sets it on the key's row (blank = no cap),
sees what the key spent this month beside it, and the API refuses the key's calls past it; a
member cannot set it, another workspace's key is a 404, bad input is a form error."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Plan, UsageRecord
from keys.models import ApiKey


@pytest.fixture
def manager(client, owner):
    client.force_login(owner.user)
    return owner


def keys_url(persona) -> str:
    return reverse("dashboard:keys", args=[persona.workspace.slug])


def cap_url(persona, key: ApiKey) -> str:
    return reverse("dashboard:key_cap", args=[persona.workspace.slug, key.pk])


def spend(key: ApiKey, *, credits: int = 0, cost: str = "0") -> None:
    now = timezone.now()
    UsageRecord.objects.create(
        call_id=uuid.uuid4().hex, request_id="r", workspace_id=key.workspace_id, key_id=key.pk,
        endpoint="chat", dialect="openai", status=200, credits=credits, cost=Decimal(cost),
        started_at=now, finished_at=now,
    )  # fmt: skip


def row_of(response, key: ApiKey) -> str:
    html = response.content.decode()
    start = html.index(f'id="key-{key.pk}"')
    return html[start : html.index("</tr>", start)]


def test_it_sets_a_cap_shows_it_with_the_months_spend_and_clears_it(client, manager, key_a) -> None:
    spend(key_a.key, credits=7)
    assert "spent 7 credits this month · no cap" in row_of(client.get(keys_url(manager)), key_a.key)

    saved = client.post(cap_url(manager, key_a.key), {"monthly_cap": "500"})

    assert saved.status_code == 302
    assert ApiKey.objects.get(pk=key_a.key.pk).monthly_cap == 500
    page = client.get(saved["Location"])
    assert "can now spend 500 credits a month" in page.content.decode()
    assert "spent 7 credits this month · cap 500 credits" in row_of(page, key_a.key)

    cleared = client.post(cap_url(manager, key_a.key), {"monthly_cap": ""})
    assert cleared.status_code == 302
    assert ApiKey.objects.get(pk=key_a.key.pk).monthly_cap is None


def test_the_api_refuses_a_key_past_the_cap_set_on_the_page(client, manager, key_a) -> None:
    client.post(cap_url(manager, key_a.key), {"monthly_cap": "0"})
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    response = client.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}",
    )  # fmt: skip
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "key_limit_reached"


def test_a_prepaid_workspace_caps_its_keys_in_dollars(client, manager, key_a) -> None:
    subscription = manager.workspace.subscription
    subscription.plan = Plan.objects.get(code="payg")
    subscription.save()
    spend(key_a.key, cost="1.25")

    assert client.post(cap_url(manager, key_a.key), {"monthly_cap": "20.50"}).status_code == 302

    row = row_of(client.get(keys_url(manager)), key_a.key)
    assert "spent $1.25 this month · cap $20.50" in row


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("-1", "greater than or equal to 0"),
        ("10000000000", "less than or equal to 99999999"),
        ("500000000", "less than or equal to 99999999"),  # numeric(14,6) holds < 10⁸
        ("1e400", "less than or equal to 99999999"),
        ("5\x00", "Enter a number"),
        ("NaN", "Enter a number"),
        ("2.5", "whole number of credits"),
        ("x" * 100_000, "Enter a number"),
    ],
)
def test_it_shows_bad_caps_as_form_errors(client, manager, key_a, value, error) -> None:
    response = client.post(cap_url(manager, key_a.key), {"monthly_cap": value})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert ApiKey.objects.get(pk=key_a.key.pk).monthly_cap is None


def test_it_shows_a_lone_surrogate_as_a_form_error(client, manager, key_a) -> None:
    response = client.post(
        cap_url(manager, key_a.key),
        "monthly_cap=%ED%A0%80",  # a lone surrogate, as a browser cannot but a script can send
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "Enter a number" in response.content.decode()


def test_another_workspaces_key_is_a_404(client, manager, key_b) -> None:
    url = reverse("dashboard:key_cap", args=[manager.workspace.slug, key_b.key.pk])
    assert client.post(url, {"monthly_cap": "1"}).status_code == 404
    assert ApiKey.objects.get(pk=key_b.key.pk).monthly_cap is None


def test_a_member_sees_the_spend_but_cannot_set_a_cap(client, member, key_a) -> None:
    client.force_login(member.user)
    page = client.get(keys_url(member))
    assert "spent 0 credits this month" in row_of(page, key_a.key)
    assert "Monthly cap</summary>" not in page.content.decode()
    assert client.post(cap_url(member, key_a.key), {"monthly_cap": "1"}).status_code == 403
    assert ApiKey.objects.get(pk=key_a.key.pk).monthly_cap is None


def test_the_admin_edits_a_keys_cap(client, key_a) -> None:
    from accounts.models import User

    client.force_login(User.objects.create_superuser(email="op@x.test", password="x" * 20))
    page = client.get(reverse("admin:keys_apikey_change", args=[key_a.key.pk]))
    assert 'name="monthly_cap"' in page.content.decode()


def test_a_rotated_key_keeps_its_cap(client, manager, key_a) -> None:
    client.post(cap_url(manager, key_a.key), {"monthly_cap": "40"})
    rotate = reverse("dashboard:key_rotate", args=[manager.workspace.slug, key_a.key.pk])
    assert client.post(rotate, {"grace_hours": "0"}).status_code == 302
    successor = ApiKey.objects.get(pk=key_a.key.pk).replaced_by
    assert successor.monthly_cap == 40
