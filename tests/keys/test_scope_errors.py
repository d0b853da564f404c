"""A scope error says where it is fixed: the key's row on the keys page when the plan has the
scope, the billing page when it does not."""

from __future__ import annotations

from django.conf import settings

from keys.services import issue_key


def error_message(client, key) -> str:
    response = client.get("/api/v1/agents", HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    return response.json()["error"]["message"]


def test_it_links_a_key_without_a_scope_of_its_plan_to_the_keys_page(client, owner) -> None:
    narrow = issue_key(owner.workspace, "chat only", scopes=["chat"])

    message = error_message(client, narrow)

    keys_page = f"{settings.PUBLIC_BASE_URL}/dashboard/w/{owner.workspace.slug}/keys/"
    assert message.endswith(f"Give the key this scope at {keys_page}#key-{narrow.key.pk}")


def test_it_links_a_plan_without_the_scope_to_the_billing_page(client, key_b, outsider) -> None:
    message = error_message(client, key_b)  # the Starter plan: chat only

    billing = f"{settings.PUBLIC_BASE_URL}/dashboard/w/{outsider.workspace.slug}/billing/"
    assert message.endswith(
        f"The workspace's plan does not include it; change the plan at {billing}"
    )
