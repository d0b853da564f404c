"""Dashboard tenancy: a workspace is reachable only through the user's membership."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Membership, Role, User
from accounts.services import create_workspace
from billing.models import Plan, Subscription, SubscriptionStatus
from keys.models import ApiKey


def without_csrf(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def workspace_url(persona) -> str:
    return reverse("dashboard:workspace", args=[persona.workspace.slug])


def keys_url(persona) -> str:
    return reverse("dashboard:keys", args=[persona.workspace.slug])


def key_url(name: str, workspace, key: ApiKey) -> str:
    return reverse(f"dashboard:{name}", args=[workspace.slug, key.pk])


# --- home and overview --------------------------------------------------------------------


def test_it_sends_anonymous_users_to_login(client, owner, key_a) -> None:
    login = reverse("accounts:login")
    for url in (
        reverse("dashboard:home"),
        workspace_url(owner),
        keys_url(owner),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{login}?next=")
    for name in ("key_rotate", "key_revoke", "key_scopes"):
        response = client.post(key_url(name, owner.workspace, key_a.key))
        assert response.status_code == 302
        assert response["Location"].startswith(login)
    key_a.key.refresh_from_db()
    assert key_a.key.status() == "active"


def test_it_redirects_home_to_the_first_workspace(client, owner) -> None:
    client.force_login(owner.user)
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 302
    assert response["Location"] == workspace_url(owner)


def test_it_explains_when_the_user_has_no_workspace(client, db) -> None:
    client.force_login(User.objects.create_user(email="lonely@example.test", password="x"))
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 200
    assert b"not in any workspace" in response.content


def test_it_shows_the_plan_and_its_limits(client, owner) -> None:
    client.force_login(owner.user)
    response = client.get(workspace_url(owner))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme" in html
    assert "The Builder plan" in html and "chat_agent" not in html  # its name, not its code
    assert "1,500,000" in html  # monthly credits
    assert "200,000" in html  # tpm
    assert "unlimited" in html  # requests per 5h / week are None on this plan
    assert "Active" in html
    subscription = Subscription.objects.get(workspace=owner.workspace)
    assert f"{subscription.current_period_end:%Y}" in html
    limits = dict(response.context["limits"])
    assert limits["Requests per 5 hours"] == "unlimited"
    assert limits["Requests at once"] == "8"
    assert limits["Includes"] == "Chat and completions, Agents"


def test_it_shows_a_past_due_subscription(client, owner) -> None:
    Subscription.objects.filter(workspace=owner.workspace).update(
        status=SubscriptionStatus.PAST_DUE
    )
    client.force_login(owner.user)
    assert b"Past due" in client.get(workspace_url(owner)).content


def test_it_offers_a_switcher_to_users_in_several_workspaces(client, owner) -> None:
    client.force_login(owner.user)
    assert b"Switch workspace" not in client.get(workspace_url(owner)).content

    second = create_workspace("Zulu", owner.user, Plan.objects.get(code="basic"))
    html = client.get(workspace_url(owner)).content.decode()

    assert "Switch workspace" in html
    assert reverse("dashboard:workspace", args=[second.slug]) in html
    assert client.get(reverse("dashboard:workspace", args=[second.slug])).status_code == 200


# --- isolation ----------------------------------------------------------------------------


def test_it_hides_another_workspace_as_404(client, owner, outsider, key_a) -> None:
    client.force_login(outsider.user)
    not_found = client.get(reverse("dashboard:workspace", args=["no-such-workspace"]))
    assert not_found.status_code == 404

    for url in (workspace_url(owner), keys_url(owner)):
        response = client.get(url)
        assert response.status_code == 404
        assert without_csrf(response) == without_csrf(not_found)  # same as a missing one
    for name in ("key_rotate", "key_revoke", "key_scopes"):
        assert client.post(key_url(name, owner.workspace, key_a.key)).status_code == 404
    assert client.post(keys_url(owner), {"name": "sneaky", "scopes": ["chat"]}).status_code == 404

    key_a.key.refresh_from_db()
    assert key_a.key.status() == "active"
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_it_hides_another_workspaces_key_behind_my_slug(client, owner, key_a, key_b) -> None:
    client.force_login(owner.user)
    for name in ("key_rotate", "key_revoke", "key_scopes"):
        assert client.post(key_url(name, owner.workspace, key_b.key)).status_code == 404
    key_b.key.refresh_from_db()
    assert key_b.key.status() == "active"
    assert key_b.key.replaced_by is None


def test_it_lists_only_the_workspaces_own_keys(client, owner, key_a, key_b) -> None:
    client.force_login(owner.user)
    html = client.get(keys_url(owner)).content.decode()
    assert key_a.key.display in html
    assert key_b.key.display not in html


def test_it_lets_members_view_but_not_change_keys(client, member, key_a) -> None:
    client.force_login(member.user)

    response = client.get(keys_url(member))
    assert response.status_code == 200
    assert key_a.key.display in response.content.decode()
    assert response.context["form"] is None
    assert b"Create key" not in response.content
    assert b"/rotate/" not in response.content and b"/revoke/" not in response.content
    assert b"/scopes/" not in response.content

    assert client.post(keys_url(member), {"name": "mine", "scopes": ["chat"]}).status_code == 403
    for name in ("key_rotate", "key_revoke", "key_scopes"):
        assert client.post(key_url(name, member.workspace, key_a.key)).status_code == 403
    key_a.key.refresh_from_db()
    assert key_a.key.status() == "active"
    assert not ApiKey.objects.filter(name="mine").exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_it_lets_admins_and_owners_manage_keys(client, owner, role) -> None:
    user = User.objects.create_user(email=f"another-{role}@acme.test", password="x")
    Membership.objects.create(user=user, workspace=owner.workspace, role=role)
    client.force_login(user)

    response = client.post(keys_url(owner), {"name": "deploy", "scopes": ["chat"]})

    assert response.status_code == 302  # to the list, which shows the secret once
    assert ApiKey.objects.for_workspace(owner.workspace).filter(name="deploy").exists()


def test_it_refuses_get_on_the_action_urls(client, owner, key_a) -> None:
    client.force_login(owner.user)
    for name in ("key_rotate", "key_revoke", "key_scopes"):
        assert client.get(key_url(name, owner.workspace, key_a.key)).status_code == 405
