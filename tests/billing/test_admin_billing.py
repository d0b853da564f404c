"""The operator's billing actions in Django admin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import User
from billing.models import Balance, LedgerEntry, RedemptionCode


@pytest.fixture
def operator(client, db):
    user = User.objects.create_superuser(email="op@tollgate.test", password="x" * 20)
    client.force_login(user)
    return user


def test_it_grants_credits_from_the_workspace_list(client, operator, owner) -> None:
    url = "/admin/accounts/workspace/"
    form = client.post(url, {"action": "grant_credits", "_selected_action": [owner.workspace.pk]})
    assert form.status_code == 200 and b"Grant credits to" in form.content
    done = client.post(
        url,
        {"action": "grant_credits", "_selected_action": [owner.workspace.pk], "apply": "1",
         "amount": "3.5", "reason": "support ticket 17"},
    )  # fmt: skip
    assert done.status_code == 302
    entry = LedgerEntry.objects.get(workspace=owner.workspace)
    assert (entry.kind, entry.amount, entry.created_by) == ("grant", Decimal("3.5"), operator)
    assert Balance.objects.get(workspace=owner.workspace).amount == Decimal("3.5")
    said = [str(m) for m in client.get(url).context["messages"]]
    assert said == [f"{owner.workspace}: balance {entry.balance_after}"]


def test_it_generates_a_batch_of_codes(client, operator) -> None:
    response = client.post(
        "/admin/billing/redemptioncode/generate/",
        {"count": "5", "amount": "10", "batch": "promo", "expires_at": "2030-01-31 12:00"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?batch=promo")
    made = RedemptionCode.objects.filter(batch="promo", amount=Decimal("10"))
    assert made.count() == 5 and all(c.expires_at.year == 2030 for c in made)
    listing = client.get(response["Location"])
    assert listing.status_code == 200 and listing.context["cl"].result_count == 5
    assert next(str(m) for m in listing.context["messages"]).startswith(
        "Generated 5 codes worth $10 each in batch promo"
    )
    exported = client.post(
        "/admin/billing/redemptioncode/",
        {"action": "export_csv", "_selected_action": [c.pk for c in made]},
    )
    lines = exported.content.decode().splitlines()
    assert exported["Content-Type"].startswith("text/csv") and len(lines) == 6
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted(c.code for c in made)
    refused = client.post("/admin/billing/redemptioncode/generate/", {"count": "0", "amount": "10"})
    assert refused.status_code == 200 and RedemptionCode.objects.count() == 5


def test_it_shows_the_ledger_read_only(client, operator, owner) -> None:
    from billing.ledger import grant

    entry = grant(owner.workspace, Decimal("1"), "x")
    assert client.get("/admin/billing/ledgerentry/").status_code == 200
    assert client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
