"""The team page and invitation links: invite → accept by another user → listed; the role rules
(only owners touch owners, the last owner stays, members change nothing); one-use, expiring,
revocable links; CSRF on every POST; another workspace's team is a 404."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, User
from tests.conftest import PASSWORD

LINK_RE = re.compile(r"https?://[^\s<\"]+/invite/([A-Za-z0-9_\-]+)/")


def team_url(workspace) -> str:
    return reverse("dashboard:team", args=[workspace.slug])


def member_url(name: str, membership: Membership) -> str:
    return reverse(f"dashboard:team_member_{name}", args=[membership.workspace.slug, membership.pk])


def revoke_url(invitation: Invitation) -> str:
    return reverse(
        "dashboard:team_invitation_revoke", args=[invitation.workspace.slug, invitation.pk]
    )


def invite_url(token: str) -> str:
    return reverse("invitation", args=[token])


def join(workspace, email: str, role: str) -> Membership:
    user = User.objects.create_user(email=email, password=PASSWORD)
    return Membership.objects.create(user=user, workspace=workspace, role=role)


def membership_of(persona) -> Membership:
    return Membership.objects.get(user=persona.user, workspace=persona.workspace)


def create_link(client, workspace, role: str = Role.MEMBER, note: str = "") -> str:
    response = client.post(team_url(workspace), {"role": role, "note": note})
    assert response.status_code == 200
    [token] = set(LINK_RE.findall(response.content.decode()))
    return token


@pytest.fixture
def admin(owner) -> Membership:
    return join(owner.workspace, "admin@acme.test", Role.ADMIN)


@pytest.fixture
def newcomer(db) -> User:
    return User.objects.create_user(email="newcomer@example.test", password=PASSWORD)


# --- the page -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "member"])
def test_it_renders_for_owner_and_member(client, request, member, persona) -> None:
    who = request.getfixturevalue(persona)
    client.force_login(who.user)

    response = client.get(team_url(who.workspace))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-current="page">Team<' in html
    assert "owner@acme.test" in html and "member@acme.test" in html
    assert "no-store" in response["Cache-Control"]


def test_it_shows_members_the_team_without_controls(client, member) -> None:
    client.force_login(member.user)
    response = client.get(team_url(member.workspace))

    html = response.content.decode()
    assert response.context["form"] is None
    assert "Create invitation link" not in html
    assert "/role/" not in html and "/remove/" not in html
    assert "Only owners and admins" in html


def test_it_is_a_404_for_an_outsider(client, owner, member, outsider) -> None:
    client.force_login(outsider.user)
    target = membership_of(member)

    assert client.get(team_url(owner.workspace)).status_code == 404
    assert client.post(team_url(owner.workspace), {"role": "member"}).status_code == 404
    assert client.post(member_url("role", target), {"role": "owner"}).status_code == 404
    assert client.post(member_url("remove", target)).status_code == 404
    target.refresh_from_db()
    assert target.role == Role.MEMBER
    assert not Invitation.objects.exists()


def test_it_hides_another_workspaces_member_behind_my_slug(client, owner, outsider) -> None:
    theirs = membership_of(outsider)
    client.force_login(owner.user)
    url = reverse("dashboard:team_member_remove", args=[owner.workspace.slug, theirs.pk])
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


# --- invite and accept --------------------------------------------------------------------


def test_it_invites_by_a_link_another_user_accepts(client, owner, newcomer) -> None:
    client.force_login(owner.user)
    response = client.post(team_url(owner.workspace), {"role": "admin", "note": "Dana"})

    assert "no-store" in response["Cache-Control"]
    [token] = set(LINK_RE.findall(response.content.decode()))
    assert b'data-copy-target="invitation-link"' in response.content
    invitation = Invitation.objects.get(workspace=owner.workspace)
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in invitation.token_hash
    assert invitation.role == Role.ADMIN and invitation.invited_by == owner.user
    assert invitation.note == "Dana"
    assert abs(invitation.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    later = client.get(team_url(owner.workspace)).content.decode()
    assert token not in later and "Dana" in later  # listed as pending, link not shown again

    client.force_login(newcomer)
    page = client.get(invite_url(token))
    assert page.status_code == 200
    assert b"Join Acme" in page.content and b"owner@acme.test invited you" in page.content
    accepted = client.post(invite_url(token))

    assert accepted.status_code == 302
    assert accepted["Location"] == reverse("dashboard:workspace", args=[owner.workspace.slug])
    joined = Membership.objects.get(user=newcomer, workspace=owner.workspace)
    assert joined.role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.accepted_by == newcomer and invitation.accepted_at is not None

    client.force_login(owner.user)
    team = client.get(team_url(owner.workspace))
    assert "newcomer@example.test" in team.content.decode()
    assert team.context["invitations"] == []


def test_it_sends_an_anonymous_visitor_to_sign_up_and_back(client, owner) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace)
    client.logout()

    page = client.get(invite_url(token))
    next_param = quote(invite_url(token), safe="/")
    html = page.content.decode()
    assert f"{reverse('accounts:signup')}?next={next_param}" in html
    assert f"{reverse('accounts:login')}?next={next_param}" in html
    refused = client.post(invite_url(token))
    assert refused.status_code == 302 and refused["Location"].startswith(reverse("accounts:login"))

    form = client.get(reverse("accounts:signup"), {"next": invite_url(token)})
    assert f'name="next" value="{invite_url(token)}"' in form.content.decode()
    signed_up = client.post(
        reverse("accounts:signup"),
        {
            "email": "fresh@example.test",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "next": invite_url(token),
        },
    )
    assert signed_up.status_code == 302 and signed_up["Location"] == invite_url(token)
    client.post(invite_url(token))
    fresh = User.objects.get(email="fresh@example.test")
    assert Membership.objects.get(user=fresh, workspace=owner.workspace).role == Role.MEMBER


def test_it_sends_an_existing_user_to_log_in_and_back(client, owner, newcomer) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace)
    client.logout()

    logged_in = client.post(
        reverse("accounts:login"),
        {"email": newcomer.email, "password": PASSWORD, "next": invite_url(token)},
    )
    assert logged_in.status_code == 302 and logged_in["Location"] == invite_url(token)
    assert client.post(invite_url(token)).status_code == 302
    assert Membership.objects.filter(user=newcomer, workspace=owner.workspace).exists()


def test_it_never_follows_a_next_to_another_site(client, catalog) -> None:
    response = client.post(
        reverse("accounts:signup"),
        {
            "email": "fresh@example.test",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 302 and "evil" not in response["Location"]


def test_it_uses_a_link_once(client, owner, newcomer) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace)
    client.force_login(newcomer)
    client.post(invite_url(token))

    second = User.objects.create_user(email="second@example.test", password=PASSWORD)
    client.force_login(second)
    for response in (client.get(invite_url(token)), client.post(invite_url(token))):
        assert response.status_code == 410
        assert b"already used" in response.content
    assert not Membership.objects.filter(user=second, workspace=owner.workspace).exists()


def test_it_refuses_an_expired_link(client, owner, newcomer) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace)
    client.force_login(newcomer)

    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        page = client.get(invite_url(token))
        accepted = client.post(invite_url(token))

    assert page.status_code == accepted.status_code == 410
    assert b"has expired" in accepted.content and b"7 days" in accepted.content
    assert not Membership.objects.filter(user=newcomer, workspace=owner.workspace).exists()


def test_it_revokes_a_pending_link(client, owner, newcomer) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace, note="temp")
    invitation = Invitation.objects.get()

    revoked = client.post(revoke_url(invitation))
    assert revoked.status_code == 302
    assert client.get(team_url(owner.workspace)).context["invitations"] == []

    client.force_login(newcomer)
    response = client.post(invite_url(token))
    assert response.status_code == 410 and b"was revoked" in response.content
    assert not Membership.objects.filter(user=newcomer, workspace=owner.workspace).exists()


def test_it_says_an_unknown_link_is_not_valid(client, newcomer) -> None:
    client.force_login(newcomer)
    response = client.get(invite_url("not-a-real-token"))
    assert response.status_code == 404 and b"not valid" in response.content
    assert client.post(invite_url("not-a-real-token")).status_code == 404


def test_it_keeps_the_link_when_a_member_opens_it(client, owner, member, newcomer) -> None:
    client.force_login(owner.user)
    token = create_link(client, owner.workspace, role=Role.ADMIN)

    client.force_login(member.user)
    assert b"already in Acme" in client.get(invite_url(token)).content
    client.post(invite_url(token))
    assert membership_of(member).role == Role.MEMBER  # no promotion through a link

    client.force_login(newcomer)
    assert client.post(invite_url(token)).status_code == 302  # still usable by its invitee


# --- role rules ---------------------------------------------------------------------------


def test_it_never_demotes_or_removes_the_last_owner(client, owner) -> None:
    me = membership_of(owner)
    client.force_login(owner.user)

    demoted = client.post(member_url("role", me), {"role": "admin"})
    removed = client.post(member_url("remove", me))

    for response in (demoted, removed):
        assert response.status_code == 200
        assert "always keeps an owner" in response.content.decode()
    me.refresh_from_db()
    assert me.role == Role.OWNER


def test_it_lets_an_owner_hand_over_ownership(client, owner, admin) -> None:
    me = membership_of(owner)
    client.force_login(owner.user)

    assert client.post(member_url("role", admin), {"role": "owner"}).status_code == 302
    assert client.post(member_url("role", me), {"role": "member"}).status_code == 302

    admin.refresh_from_db()
    me.refresh_from_db()
    assert (admin.role, me.role) == (Role.OWNER, Role.MEMBER)
    client.force_login(admin.user)
    assert "always keeps an owner" in client.post(member_url("remove", admin)).content.decode()


def test_it_lets_an_owner_remove_another_owner(client, owner) -> None:
    second = join(owner.workspace, "second-owner@acme.test", Role.OWNER)
    client.force_login(owner.user)
    assert client.post(member_url("remove", second)).status_code == 302
    assert not Membership.objects.filter(pk=second.pk).exists()


def test_it_never_lets_an_admin_make_or_touch_owners(client, owner, admin, member) -> None:
    target = membership_of(member)
    client.force_login(admin.user)

    page = client.get(team_url(owner.workspace))
    assert [v for v, _ in page.context["form"].fields["role"].choices] == ["admin", "member"]
    assert member_url("remove", membership_of(owner)) not in page.content.decode()

    invited = client.post(team_url(owner.workspace), {"role": "owner"})
    assert invited.context["form"].errors["role"]
    assert not Invitation.objects.exists()
    promoted = client.post(member_url("role", target), {"role": "owner"})
    assert "Only an owner" in promoted.content.decode()
    demoted = client.post(member_url("role", membership_of(owner)), {"role": "member"})
    removed = client.post(member_url("remove", membership_of(owner)))
    assert "Only an owner" in demoted.content.decode()
    assert "Only an owner" in removed.content.decode()

    target.refresh_from_db()
    assert target.role == Role.MEMBER
    assert membership_of(owner).role == Role.OWNER


def test_it_lets_an_admin_manage_members(client, owner, admin, member) -> None:
    target = membership_of(member)
    client.force_login(admin.user)

    assert client.post(member_url("role", target), {"role": "admin"}).status_code == 302
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    assert client.post(member_url("remove", target)).status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
    create_link(client, owner.workspace, role=Role.ADMIN)


def test_it_refuses_every_change_from_a_member(client, owner, member, admin) -> None:
    client.force_login(owner.user)
    create_link(client, owner.workspace)
    invitation = Invitation.objects.get()
    client.force_login(member.user)

    assert client.post(team_url(owner.workspace), {"role": "member"}).status_code == 403
    assert client.post(member_url("role", admin), {"role": "member"}).status_code == 403
    assert client.post(member_url("remove", admin)).status_code == 403
    assert (
        client.post(member_url("role", membership_of(member)), {"role": "owner"}).status_code == 403
    )
    assert client.post(revoke_url(invitation)).status_code == 403

    admin.refresh_from_db()
    invitation.refresh_from_db()
    assert admin.role == Role.ADMIN and invitation.status() == "pending"
    assert membership_of(member).role == Role.MEMBER
    assert Invitation.objects.count() == 1


def test_it_lets_an_admin_leave(client, owner, admin) -> None:
    client.force_login(admin.user)
    response = client.post(member_url("remove", admin))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert not Membership.objects.filter(pk=admin.pk).exists()


# --- CSRF ---------------------------------------------------------------------------------


def test_it_requires_a_csrf_token_on_every_post(owner, member, newcomer) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)
    target = membership_of(member)
    for url, data in [
        (team_url(owner.workspace), {"role": "member"}),
        (member_url("role", target), {"role": "admin"}),
        (member_url("remove", target), {}),
    ]:
        assert browser.post(url, data).status_code == 403, url
    target.refresh_from_db()
    assert target.role == Role.MEMBER and not Invitation.objects.exists()

    page = browser.get(team_url(owner.workspace))
    token = page.cookies["csrftoken"].value
    made = browser.post(team_url(owner.workspace), {"role": "member", "csrfmiddlewaretoken": token})
    [link] = set(LINK_RE.findall(made.content.decode()))
    invitation = Invitation.objects.get()
    assert browser.post(revoke_url(invitation)).status_code == 403

    visitor = Client(enforce_csrf_checks=True)
    visitor.force_login(newcomer)
    assert visitor.post(invite_url(link)).status_code == 403
    assert not Membership.objects.filter(user=newcomer, workspace=owner.workspace).exists()
    invitation.refresh_from_db()
    assert invitation.status() == "pending"
