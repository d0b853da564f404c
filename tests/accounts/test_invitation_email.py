"""Invitation links sent by e-mail from the Team page: to the address given, with the workspace
and the inviter in the subject; a bad address is a form error and nothing is made; a mail server
that fails leaves the invitation made, its link shown, and says the e-mail was not sent."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from django.core import mail

from accounts.models import Invitation, Role
from accounts.team import hash_token

from .test_team import LINK_RE, team_url

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(autouse=True)
def _outbox(settings) -> None:
    settings.EMAIL_BACKEND = LOCMEM


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    """A mail server that answers every connection with 554 (service unavailable)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def answer() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.sendall(b"554 no mail from you today\r\n")
            connection.recv(1024)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(5)


def test_it_emails_the_link_to_the_address_given(client, owner) -> None:
    owner.user.name = "Olivia Owner"
    owner.user.save()
    client.force_login(owner.user)

    response = client.post(
        team_url(owner.workspace),
        {"role": "admin", "note": "Dana", "email": " Dana@Example.test "},
    )

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    [token] = set(LINK_RE.findall(html))
    assert "Sent by email to <strong>dana@example.test</strong>" in html
    invitation = Invitation.objects.get()
    assert invitation.email == "dana@example.test" and invitation.role == Role.ADMIN
    [sent] = mail.outbox
    assert sent.to == ["dana@example.test"]
    assert sent.reply_to == ["owner@acme.test"]
    assert sent.subject == "Olivia Owner invited you to Acme on Tollgate"
    assert f"/invite/{token}/" in sent.body
    assert "Olivia Owner (owner@acme.test)" in sent.body and '"Acme"' in sent.body
    assert "as admin" in sent.body and "works once" in sent.body
    assert "&quot;" not in sent.body and "<" not in sent.body  # plain text, not escaped HTML

    later = client.get(team_url(owner.workspace)).content.decode()
    assert token not in later and "sent to dana@example.test" in later


def test_it_sends_nothing_without_an_address(client, owner) -> None:
    client.force_login(owner.user)
    response = client.post(team_url(owner.workspace), {"role": "member", "note": "Sam"})

    assert LINK_RE.search(response.content.decode())
    assert response.context["mailed"] is None and b"Sent by email" not in response.content
    assert mail.outbox == []
    assert Invitation.objects.get().email == ""


def test_it_names_the_inviter_by_email_without_a_name(client, owner) -> None:
    client.force_login(owner.user)
    client.post(team_url(owner.workspace), {"role": "member", "email": "sam@example.test"})
    [sent] = mail.outbox
    assert sent.subject == "owner@acme.test invited you to Acme on Tollgate"
    assert "owner@acme.test invited you" in sent.body and "(owner@acme.test)" not in sent.body


@pytest.mark.parametrize("address", ["not-an-address", "dana@", "a@b.c\r\nBcc: x@evil.test"])
def test_it_refuses_a_bad_address_beside_the_field(client, owner, address) -> None:
    client.force_login(owner.user)
    response = client.post(
        team_url(owner.workspace), {"role": "member", "note": "Dana", "email": address}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert 'id="id_email_error"' in response.content.decode()
    assert response.context["issued"] is None and not LINK_RE.search(response.content.decode())
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("server", ["nobody_listening", "refusing"])
def test_it_keeps_the_invitation_when_the_mail_server_fails(
    client, owner, settings, request, server
) -> None:
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = (
        free_port() if server == "nobody_listening" else request.getfixturevalue("refusing_smtp")
    )
    settings.EMAIL_TIMEOUT = 5
    client.force_login(owner.user)

    response = client.post(
        team_url(owner.workspace), {"role": "member", "email": "dana@example.test"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "could not be sent" in html and "dana@example.test" in html
    [token] = set(LINK_RE.findall(html))  # still shown, once
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hash_token(token)
    assert invitation.status() == "pending" and invitation.email == "dana@example.test"
