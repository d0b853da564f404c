"""Sign-up, log-in, log-out and password reset pages, with their rate limits."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Role, User, Workspace
from billing.models import Subscription
from tests.conftest import PASSWORD

SIGNUP = reverse("accounts:signup")
LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
RESET = reverse("accounts:password_reset")
NEW_PASSWORD = "another-long-passphrase-77"


@pytest.fixture
def still_clock():
    """Rate-limit windows are aligned to the clock: keep every request of a test in one."""
    with time_machine.travel("2025-03-03 10:00:05 +0000", tick=False):
        yield


def signup_data(**overrides: str) -> dict[str, str]:
    data = {
        "email": "new@example.test",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "workspace_name": "Newco",
    }
    data.update(overrides)
    return data


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


# --- sign up ------------------------------------------------------------------------------


def test_it_shows_the_signup_form(client, catalog) -> None:
    response = client.get(SIGNUP)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert b'name="password_confirm"' in response.content


def test_it_signs_up_a_user_with_a_workspace_on_the_default_plan(client, catalog) -> None:
    response = client.post(SIGNUP, signup_data(email="New@Example.TEST"))

    user = User.objects.get(email="new@example.test")
    workspace = Workspace.objects.get(name="Newco")
    membership = Membership.objects.get(user=user, workspace=workspace)
    assert membership.role == Role.OWNER
    subscription = Subscription.objects.get(workspace=workspace)
    assert subscription.plan.code == "trial_chat"
    assert subscription.is_active
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:workspace", args=[workspace.slug])

    home = client.get(response["Location"])  # logged in by the sign-up
    assert home.status_code == 200
    assert b"Newco" in home.content


def test_it_names_the_workspace_after_the_email_when_no_name_is_given(client, catalog) -> None:
    client.post(SIGNUP, signup_data(email="ada@example.test", workspace_name=""))
    assert Workspace.objects.filter(name="ada's workspace").exists()


def test_it_refuses_a_duplicate_email_beside_the_field(client, owner) -> None:
    users, workspaces = User.objects.count(), Workspace.objects.count()

    response = client.post(SIGNUP, signup_data(email="OWNER@acme.test"))

    assert response.status_code == 200
    assert field_errors(response, "email")
    assert b"already exists" in response.content
    assert (User.objects.count(), Workspace.objects.count()) == (users, workspaces)


def test_it_refuses_mismatched_passwords_beside_the_field(client, catalog) -> None:
    response = client.post(SIGNUP, signup_data(password_confirm=PASSWORD + "x"))

    assert response.status_code == 200
    assert field_errors(response, "password_confirm") == ["The two passwords do not match."]
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_it_refuses_a_weak_password(client, catalog) -> None:
    response = client.post(SIGNUP, signup_data(password="12345678", password_confirm="12345678"))

    assert response.status_code == 200
    assert field_errors(response, "password")
    assert not User.objects.exists()


def test_it_explains_when_there_is_no_default_plan(client, db) -> None:
    response = client.post(SIGNUP, signup_data())  # no catalog applied: no plans at all

    assert response.status_code == 503
    assert b"no default plan" in response.content
    assert not User.objects.exists()
    assert not Workspace.objects.exists()


def test_it_rate_limits_signup_with_429(client, catalog, settings, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "3/m"
    for i in range(3):
        response = client.post(SIGNUP, signup_data(email=f"u{i}@example.test", password="x"))
        assert response.status_code == 200

    response = client.post(SIGNUP, signup_data(email="late@example.test"))

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert not User.objects.filter(email="late@example.test").exists()


def test_it_rate_limits_signup_per_email_across_addresses(catalog, settings, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "2/m"
    for ip in ("10.0.0.1", "10.0.0.2"):
        Client(REMOTE_ADDR=ip).post(SIGNUP, signup_data(password="x"))

    response = Client(REMOTE_ADDR="10.0.0.3").post(SIGNUP, signup_data())

    assert response.status_code == 429
    assert not User.objects.exists()


def test_it_does_not_count_gets(client, catalog, settings, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "1/m"
    for _ in range(3):
        assert client.get(SIGNUP).status_code == 200
    assert client.post(SIGNUP, signup_data()).status_code == 302


def test_it_requires_csrf_tokens(catalog) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(SIGNUP, signup_data()).status_code == 403
    assert not User.objects.exists()


# --- log in / log out ---------------------------------------------------------------------


def test_it_logs_in_and_goes_to_the_first_workspace(client, owner) -> None:
    response = client.post(LOGIN, {"email": "Owner@Acme.test", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")
    response = client.get(response["Location"])
    assert response["Location"] == reverse("dashboard:workspace", args=[owner.workspace.slug])


def test_it_follows_a_safe_next_parameter(client, owner) -> None:
    keys = reverse("dashboard:keys", args=[owner.workspace.slug])
    response = client.post(
        f"{LOGIN}?next={keys}", {"email": owner.user.email, "password": PASSWORD}
    )
    assert response["Location"] == keys

    client.logout()
    response = client.post(
        LOGIN, {"email": owner.user.email, "password": PASSWORD, "next": "https://evil.test/"}
    )
    assert response["Location"] == reverse("dashboard:home")


def test_it_refuses_a_wrong_password(client, owner) -> None:
    response = client.post(LOGIN, {"email": owner.user.email, "password": "wrong"})

    assert response.status_code == 200
    assert b"do not match an account" in response.content
    assert "_auth_user_id" not in client.session


def test_it_shows_missing_fields_beside_them(client, db) -> None:
    response = client.post(LOGIN, {"email": "not-an-email", "password": ""})
    assert response.status_code == 200
    assert field_errors(response, "email")
    assert field_errors(response, "password")


def test_it_rate_limits_login_with_429_even_for_the_right_password(
    client, owner, settings, still_clock
) -> None:
    settings.ACCOUNT_RATELIMIT = "3/m"
    for _ in range(3):
        response = client.post(LOGIN, {"email": owner.user.email, "password": "wrong"})
        assert response.status_code == 200

    response = client.post(LOGIN, {"email": owner.user.email, "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_it_does_not_lock_the_owner_out_from_another_address(owner, settings, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "10/m"
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(10):
        attacker.post(LOGIN, {"email": owner.user.email.upper(), "password": "wrong"})

    assert attacker.post(LOGIN, {"email": owner.user.email, "password": PASSWORD}).status_code == (
        429
    )
    other = Client(REMOTE_ADDR="198.51.100.7").post(
        LOGIN, {"email": owner.user.email, "password": PASSWORD}
    )
    assert other.status_code == 302  # logged in


def test_it_limits_one_address_trying_many_accounts(client, owner, settings, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "3/m"
    for i in range(3):
        client.post(LOGIN, {"email": f"guess{i}@example.test", "password": "wrong"})

    response = client.post(LOGIN, {"email": owner.user.email, "password": PASSWORD})

    assert response.status_code == 429


def test_it_limits_an_account_per_address_behind_a_load_balancer(
    owner, settings, still_clock
) -> None:
    """With RATELIMIT_IP_META_KEY the address is the balancer's header, so one attacker is not
    everyone."""
    settings.ACCOUNT_RATELIMIT = "3/m"
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    balancer = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        balancer.post(
            LOGIN, {"email": owner.user.email, "password": "wrong"}, HTTP_X_REAL_IP="203.0.113.9"
        )

    assert (
        balancer.post(
            LOGIN, {"email": owner.user.email, "password": PASSWORD}, HTTP_X_REAL_IP="203.0.113.9"
        ).status_code
        == 429
    )
    assert (
        balancer.post(
            LOGIN, {"email": owner.user.email, "password": PASSWORD}, HTTP_X_REAL_IP="198.51.100.7"
        ).status_code
        == 302
    )


def test_it_logs_out_on_post_only(client, owner) -> None:
    client.force_login(owner.user)
    assert client.get(LOGOUT).status_code == 405

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


# --- password reset -----------------------------------------------------------------------


def test_it_resets_a_password_through_the_emailed_link(client, owner, mailoutbox) -> None:
    response = client.post(RESET, {"email": owner.user.email})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [owner.user.email]
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.body)
    assert link, mail.body

    response = client.get(link.group(1))  # redirects to the token-less "set-password" URL
    assert response.status_code == 302
    form_url = response["Location"]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_complete")

    owner.user.refresh_from_db()
    assert owner.user.check_password(NEW_PASSWORD)
    assert client.get(link.group(1)).status_code == 200  # used link: "no longer works"
    login = client.post(LOGIN, {"email": owner.user.email, "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_it_does_not_reveal_unknown_emails_on_reset(client, db, mailoutbox) -> None:
    response = client.post(RESET, {"email": "nobody@example.test"})
    assert response.status_code == 302
    assert mailoutbox == []


def test_it_rate_limits_password_reset_with_429(
    client, owner, settings, mailoutbox, still_clock
) -> None:
    settings.ACCOUNT_RATELIMIT = "3/m"
    for _ in range(3):
        assert client.post(RESET, {"email": owner.user.email}).status_code == 302

    response = client.post(RESET, {"email": owner.user.email})

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert len(mailoutbox) == 3


@pytest.mark.parametrize("url", [SIGNUP, LOGIN, RESET])
def test_it_never_fails_with_500_when_limited(client, catalog, settings, url, still_clock) -> None:
    settings.ACCOUNT_RATELIMIT = "1/m"
    statuses = {
        client.post(url, {"email": f"x{i}@example.test", "password": "p"}).status_code
        for i in range(4)
    }
    assert 429 in statuses
    assert all(status < 500 for status in statuses)
