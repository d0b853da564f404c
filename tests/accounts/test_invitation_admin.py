"""Invitations in the operator's admin: listed with their status, filtered and searched, revoked
by an action that says what it did; the token's hash is never shown or editable."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Role, User
from accounts.team import invite
from tests.conftest import PASSWORD

from .test_team import invite_url, join, membership_of

LIST = "/admin/accounts/invitation/"


@pytest.fixture
def operator(client, db) -> User:
    user = User.objects.create_superuser(email="op@tollgate.test", password="x" * 20)
    client.force_login(user)
    return user


@pytest.fixture
def newcomer(db) -> User:
    return User.objects.create_user(email="newcomer@example.test", password=PASSWORD)


@pytest.fixture
def invitations(owner) -> dict[str, object]:
    """One invitation in each state, with its link's token."""
    actor = membership_of(owner)
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        expired = invite(owner.workspace, actor, Role.MEMBER, note="late")
    pending = invite(owner.workspace, actor, Role.ADMIN, note="Dana", email="dana@example.test")
    accepted = invite(owner.workspace, actor, Role.MEMBER, note="used")
    revoked = invite(owner.workspace, actor, Role.MEMBER, note="gone")
    now = timezone.now()
    Invitation.objects.filter(pk=accepted.invitation.pk).update(accepted_at=now)
    Invitation.objects.filter(pk=revoked.invitation.pk).update(revoked_at=now)
    return {"expired": expired, "pending": pending, "accepted": accepted, "revoked": revoked}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_it_lists_invitations_with_their_status(client, operator, invitations) -> None:
    response = client.get(LIST)

    assert response.status_code == 200
    html = response.content.decode()
    for column in ("workspace", "role", "email", "created by", "status"):
        assert f">{column.capitalize()}<" in html, column
    assert "dana@example.test" in html and "owner@acme.test" in html
    for status in ("pending", "accepted", "revoked", "expired"):
        assert f">{status}<" in html
        filtered = client.get(LIST, {"status": status})
        assert filtered.context["cl"].result_count == 1, status
    searched = client.get(LIST, {"q": "dana@example"})
    assert [i.note for i in searched.context["cl"].result_list] == ["Dana"]
    assert client.get(LIST, {"role__exact": "admin"}).context["cl"].result_count == 1


def test_it_does_not_query_per_row(client, operator, invitations, owner) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST).status_code == 200
        return len(queries)

    before = count()
    for n in range(3):
        other = join(owner.workspace, f"admin{n}@acme.test", Role.ADMIN)
        invite(owner.workspace, other, Role.MEMBER, email=f"x{n}@example.test")
        User.objects.filter(pk=other.user_id).delete()  # "created by" a former member
    assert count() == before


def test_it_never_shows_or_edits_the_token_hash(client, operator, invitations) -> None:
    invitation = invitations["pending"].invitation
    change = client.get(f"{LIST}{invitation.pk}/change/")

    assert change.status_code == 200
    html = change.content.decode()
    assert "dana@example.test" in html
    assert invitation.token_hash not in html
    assert "token_hash" not in html and "token hash" not in html.lower()
    assert 'name="_save"' not in html
    assert invitation.token_hash not in client.get(LIST).content.decode()
    assert client.get(f"{LIST}add/").status_code == 403
    edited = client.post(f"{LIST}{invitation.pk}/change/", {"role": "owner"})
    assert edited.status_code == 403
    assert client.post(f"{LIST}{invitation.pk}/delete/", {"post": "yes"}).status_code == 403
    invitation.refresh_from_db()
    assert invitation.role == Role.ADMIN


def test_it_revokes_pending_ones_and_says_what_it_skipped(
    client, operator, invitations, newcomer
) -> None:
    everything = [issued.invitation.pk for issued in invitations.values()]

    response = client.post(LIST, {"action": "revoke", "_selected_action": everything}, follow=True)

    assert messages_of(response) == [
        "Revoked 1 invitation(s); skipped 1 already used, 1 already revoked, 1 expired."
    ]
    statuses = {i.note: i.status() for i in Invitation.objects.all()}
    assert statuses == {"Dana": "revoked", "used": "accepted", "gone": "revoked", "late": "expired"}
    client.force_login(newcomer)
    refused = client.post(invite_url(invitations["pending"].token))
    assert refused.status_code == 410 and b"was revoked" in refused.content

    client.force_login(operator)
    again = client.post(
        LIST,
        {"action": "revoke", "_selected_action": [invitations["pending"].invitation.pk]},
        follow=True,
    )
    assert messages_of(again) == ["Revoked 0 invitation(s); skipped 1 already revoked."]


def test_it_is_only_for_operators(client, owner, invitations) -> None:
    client.force_login(owner.user)
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
