"""Leaving a workspace from the Team page: any member may, after a confirmation, and lands on
the dashboard home; the workspace's pages are then 404 for them; its last owner is refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role

from .test_team import join, membership_of, team_url


def leave_url(workspace) -> str:
    return reverse("dashboard:team_leave", args=[workspace.slug])


def test_it_lets_a_member_leave_and_then_hides_the_workspace(client, owner, member) -> None:
    client.force_login(member.user)
    page = client.get(team_url(member.workspace)).content.decode()
    assert f'action="{leave_url(member.workspace)}"' in page
    assert 'data-confirm="Leave Acme?' in page and "js/confirm.js" in page

    response = client.post(leave_url(member.workspace))

    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert not Membership.objects.filter(user=member.user, workspace=member.workspace).exists()
    home = client.get(response["Location"], follow=True)
    assert "You left Acme." in home.content.decode()
    slug = member.workspace.slug
    for name in ("workspace", "team", "keys", "usage", "models", "playground", "docs"):
        assert client.get(reverse(f"dashboard:{name}", args=[slug])).status_code == 404, name
    assert client.post(leave_url(member.workspace)).status_code == 404
    assert membership_of(owner).role == Role.OWNER


def test_it_refuses_the_last_owner(client, owner, member) -> None:
    client.force_login(owner.user)
    page = client.get(team_url(owner.workspace)).content.decode()
    assert leave_url(owner.workspace) not in page
    assert "To leave, make someone else owner first." in page

    response = client.post(leave_url(owner.workspace))

    assert response.status_code == 200
    assert "You are the only owner of Acme" in response.content.decode()
    assert "make someone else owner first" in response.content.decode()
    assert membership_of(owner).role == Role.OWNER
    assert client.get(team_url(owner.workspace)).status_code == 200


def test_it_lets_an_owner_leave_when_another_owner_exists(client, owner) -> None:
    second = join(owner.workspace, "second-owner@acme.test", Role.OWNER)
    client.force_login(owner.user)
    assert (
        f'action="{leave_url(owner.workspace)}"'
        in client.get(team_url(owner.workspace)).content.decode()
    )

    response = client.post(leave_url(owner.workspace))

    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert not Membership.objects.filter(user=owner.user, workspace=owner.workspace).exists()
    assert client.get(team_url(owner.workspace)).status_code == 404
    second.refresh_from_db()
    assert second.role == Role.OWNER

    client.force_login(second.user)
    refused = client.post(leave_url(owner.workspace))
    assert refused.status_code == 200 and "only owner" in refused.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_it_lets_admins_and_members_leave(client, owner, role) -> None:
    someone = join(owner.workspace, f"{role}@acme.test", role)
    client.force_login(someone.user)
    assert client.post(leave_url(owner.workspace)).status_code == 302
    assert not Membership.objects.filter(pk=someone.pk).exists()


def test_it_is_a_404_for_an_outsider(client, owner, outsider) -> None:
    client.force_login(outsider.user)
    assert client.post(leave_url(owner.workspace)).status_code == 404
    assert client.get(leave_url(outsider.workspace)).status_code == 405  # POST only
    assert Membership.objects.filter(user=outsider.user).count() == 1


def test_it_requires_a_csrf_token(member) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    assert browser.post(leave_url(member.workspace)).status_code == 403
    assert Membership.objects.filter(user=member.user, workspace=member.workspace).exists()
