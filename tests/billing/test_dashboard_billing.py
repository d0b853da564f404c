"""The billing page: balance, ledger and redeeming a code; owners and admins only."""

from __future__ import annotations

from decimal import Decimal

from billing.ledger import generate_codes
from billing.models import Balance


def url(workspace) -> str:
    return f"/dashboard/w/{workspace.slug}/billing/"


def test_it_redeems_a_code_from_the_dashboard_once(client, owner) -> None:
    client.force_login(owner.user)
    code = generate_codes(1, Decimal("10")).codes[0]
    done = client.post(url(owner.workspace), {"code": code}, follow=True)
    assert done.status_code == 200
    assert b"Code redeemed: $10.00 added; balance $10.00." in done.content
    assert Balance.objects.get(workspace=owner.workspace).amount == Decimal("10")
    assert b"Redemption code" in done.content and b"+$10.000000" in done.content  # in the ledger
    again = client.post(url(owner.workspace), {"code": code})
    assert again.status_code == 200
    assert b"This code has already been redeemed." in again.content  # beside the field
    assert Balance.objects.get(workspace=owner.workspace).amount == Decimal("10")


def test_it_keeps_billing_from_members_and_outsiders(client, owner, member, outsider) -> None:
    client.force_login(member.user)
    assert client.get(url(owner.workspace)).status_code == 403
    assert client.post(url(owner.workspace), {"code": "X"}).status_code == 403
    assert b"/billing/" not in client.get(f"/dashboard/w/{owner.workspace.slug}/").content
    client.force_login(outsider.user)
    assert client.get(url(owner.workspace)).status_code == 404


def test_it_shows_the_plan_and_compares_the_public_plans(client, owner) -> None:
    client.force_login(owner.user)

    html = client.get(f"/dashboard/w/{owner.workspace.slug}/billing/").content.decode()

    assert "Your plan: Builder" in html
    assert "Compare plans" in html
    for name in ("Trial", "Starter", "Pro", "Local train", "Pay as you go"):
        assert f">{name}" in html
    assert "1,500,000" in html and "pay per token" in html
    assert 'class="current" aria-current="true">Builder' in html
