"""The operator's billing actions in Django admin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import User
from billing.models import LedgerEntry, RedemptionCode


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


def test_it_generates_a_batch_of_codes(client, operator) -> None:
    response = client.post(
        "/admin/billing/redemptioncode/generate/", {"count": "5", "amount": "10", "batch": "promo"}
    )
    assert response.status_code == 302
    assert RedemptionCode.objects.filter(batch="promo", amount=Decimal("10")).count() == 5
    assert client.get("/admin/billing/redemptioncode/").status_code == 200


def test_it_shows_the_ledger_read_only(client, operator, owner) -> None:
    from billing.ledger import grant

    entry = grant(owner.workspace, Decimal("1"), "x")
    assert client.get("/admin/billing/ledgerentry/").status_code == 200
    assert client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
