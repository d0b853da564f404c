"""The API keys page: create (secret shown once), rotate, revoke, and form errors."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from keys.authentication import resolver
from keys.models import ApiKey
from keys.secrets import hash_secret

SECRET_RE = re.compile(r"sk-tg-[0-9A-Za-z]{28}")


@pytest.fixture
def manager(client, owner):
    client.force_login(owner.user)
    return owner


def keys_url(persona) -> str:
    return reverse("dashboard:keys", args=[persona.workspace.slug])


def action_url(name: str, persona, key: ApiKey) -> str:
    return reverse(f"dashboard:{name}", args=[persona.workspace.slug, key.pk])


def secrets_in(response) -> list[str]:
    return SECRET_RE.findall(response.content.decode())


def field_errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


def test_it_lists_keys_with_their_details(client, manager, key_a) -> None:
    response = client.get(keys_url(manager))

    assert response.status_code == 200
    html = response.content.decode()
    assert key_a.key.name in html
    assert key_a.key.display in html
    assert "chat_agent" in html  # scopes
    assert ">active<" in html
    assert "never" in html  # last used / expiry
    assert key_a.secret not in html
    assert "no-store" in response["Cache-Control"]


def test_it_offers_only_the_plans_scopes(client, manager) -> None:
    form = client.get(keys_url(manager)).context["form"]
    assert [value for value, _ in form.fields["scopes"].choices] == ["chat", "chat_agent"]


def test_it_creates_a_key_and_shows_its_secret_once(client, manager) -> None:
    created = client.post(
        keys_url(manager),
        {
            "name": "backend",
            "scopes": ["chat"],
            "expires_in_days": "30",
            "model_patterns": "llama3*, qwen2.5:7b ,",
            "rpm_limit": "50",
        },
    )

    assert created.status_code == 302
    assert created["Location"] == keys_url(manager)
    assert secrets_in(created) == []
    response = client.get(created["Location"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    [secret] = set(secrets_in(response))
    key = ApiKey.objects.get(workspace=manager.workspace, name="backend")
    assert key.secret_hash == hash_secret(secret)
    assert key.display in response.content.decode()
    assert key.scopes == ["chat"]
    assert key.model_patterns == ["llama3*", "qwen2.5:7b"]
    assert key.rpm_limit == 50
    assert key.created_by == manager.user
    assert abs(key.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert b'data-copy-target="new-secret"' in response.content
    assert secret not in created["Location"]

    later = client.get(keys_url(manager))
    assert secrets_in(later) == []
    assert key.display in later.content.decode()


def test_it_creates_no_second_key_when_the_page_is_reloaded(client, manager) -> None:
    form = {"name": "backend", "all_plan_scopes": "on"}
    created = client.post(keys_url(manager), form)

    assert created.status_code == 302  # a reload repeats the GET, not the POST
    client.get(created["Location"])
    client.get(created["Location"])
    assert ApiKey.objects.filter(workspace=manager.workspace).count() == 1


def test_a_key_with_all_the_plans_scopes_gets_those_a_plan_upgrade_adds(
    client, manager, catalog
) -> None:
    from billing.models import Plan

    client.post(keys_url(manager), {"name": "follows", "all_plan_scopes": "on"})
    client.post(keys_url(manager), {"name": "fixed", "scopes": ["chat", "chat_agent"]})
    follows, fixed = (
        ApiKey.objects.get(name=name, workspace=manager.workspace) for name in ("follows", "fixed")
    )
    assert follows.all_plan_scopes and not fixed.all_plan_scopes

    subscription = manager.workspace.subscription
    subscription.plan = Plan.objects.get(code="chat_agent_train")
    subscription.save()
    resolver.clear()

    page = client.get(keys_url(manager)).content.decode()
    row = page[page.index(f'id="key-{follows.pk}"') :]
    assert "chat_agent_train" in row[: row.index("</tr>")]
    row = page[page.index(f'id="key-{fixed.pk}"') :]
    assert "chat_agent_train</span>" not in row[: row.index("</tr>")]


def test_it_changes_a_keys_scopes(client, manager, key_a) -> None:
    url = action_url("key_scopes", manager, key_a.key)

    changed = client.post(url, {"scopes": ["chat"]})

    assert changed.status_code == 302
    key = ApiKey.objects.get(pk=key_a.key.pk)
    assert key.scopes == ["chat"] and not key.all_plan_scopes
    assert b"now has the scopes chat." in client.get(changed["Location"]).content
    response = client.get("/api/v1/key", HTTP_AUTHORIZATION=f"Bearer {key_a.secret}")
    assert response.json()["scopes"] == ["chat"]

    client.post(url, {"all_plan_scopes": "on"})
    key.refresh_from_db()
    assert key.all_plan_scopes and key.scopes == ["chat", "chat_agent"]

    refused = client.post(url, {"scopes": []})
    assert refused.status_code == 200
    assert b"Choose at least one scope" in refused.content
    outside = client.post(url, {"scopes": ["chat_agent_train"]})
    assert b"not one of the available choices" in outside.content
    key.refresh_from_db()
    assert key.all_plan_scopes


def test_it_never_stores_the_secret(client, manager) -> None:
    created = client.post(keys_url(manager), {"name": "backend", "scopes": ["chat"]})
    response = client.get(created["Location"])
    [secret] = set(secrets_in(response))
    key = ApiKey.objects.get(name="backend")

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table} WHERE id = %s", [key.pk.hex])
        row = cursor.fetchone()
    assert row is not None
    assert not any(secret in str(value) for value in row)
    assert secret[-4:] == key.last4
    # The session carried it to that one page only: it holds the secret no longer.
    assert secret not in str(dict(client.session))


def test_it_shows_an_empty_name_beside_the_field(client, manager) -> None:
    response = client.post(keys_url(manager), {"name": "   ", "scopes": ["chat"]})

    assert response.status_code == 200
    assert field_errors(response, "name")
    assert secrets_in(response) == []
    assert not ApiKey.objects.exists()


def test_it_requires_a_scope(client, manager) -> None:
    response = client.post(keys_url(manager), {"name": "x"})
    assert field_errors(response, "scopes") == [
        "Choose at least one scope, or all of the plan's scopes."
    ]
    assert not ApiKey.objects.exists()


def test_it_refuses_a_scope_outside_the_plan(client, manager) -> None:
    response = client.post(keys_url(manager), {"name": "x", "scopes": ["chat_agent_train"]})
    assert field_errors(response, "scopes")
    assert not ApiKey.objects.exists()


def test_it_refuses_an_rpm_above_the_plans(client, manager) -> None:
    response = client.post(keys_url(manager), {"name": "x", "scopes": ["chat"], "rpm_limit": "201"})
    assert field_errors(response, "rpm_limit")
    response = client.post(keys_url(manager), {"name": "x", "scopes": ["chat"], "rpm_limit": "0"})
    assert field_errors(response, "rpm_limit")
    assert not ApiKey.objects.exists()


def test_it_refuses_bad_model_patterns_and_expiry(client, manager) -> None:
    response = client.post(
        keys_url(manager),
        {"name": "x", "scopes": ["chat"], "model_patterns": "llama 3", "expires_in_days": "0"},
    )
    assert field_errors(response, "model_patterns")
    assert field_errors(response, "expires_in_days")
    assert not ApiKey.objects.exists()


def test_it_rotates_a_key_with_the_default_grace(client, manager, key_a) -> None:
    rotated = client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": ""})

    assert rotated.status_code == 302
    response = client.get(rotated["Location"])
    [secret] = set(secrets_in(response))
    old = ApiKey.objects.get(pk=key_a.key.pk)
    successor = old.replaced_by
    assert successor is not None
    assert successor.secret_hash == hash_secret(secret)
    assert successor.name == old.name and successor.scopes == old.scopes
    assert abs(old.expires_at - (timezone.now() + timedelta(hours=24))) < timedelta(minutes=1)
    assert old.status() == "rotating"
    assert secrets_in(client.get(keys_url(manager))) == []


def test_it_rotates_with_a_chosen_grace(client, manager, key_a) -> None:
    client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": "2"})
    old = ApiKey.objects.get(pk=key_a.key.pk)
    assert abs(old.expires_at - (timezone.now() + timedelta(hours=2))) < timedelta(minutes=1)


def test_it_rotates_with_no_grace(client, manager, key_a) -> None:
    rotated = client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": "0"})
    old = ApiKey.objects.get(pk=key_a.key.pk)
    assert old.expires_at <= timezone.now()
    assert old.status() == "expired"
    assert b"old key stopped working now" in client.get(rotated["Location"]).content


def test_it_shows_rotation_errors_on_the_row(client, manager, key_a) -> None:
    client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": "1"})

    again = client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": "1"})
    assert again.status_code == 200
    assert b"already been rotated" in again.content
    assert secrets_in(again) == []

    negative = client.post(action_url("key_rotate", manager, key_a.key), {"grace_hours": "-1"})
    assert b"greater than or equal to 0" in negative.content
    assert ApiKey.objects.filter(workspace=manager.workspace).count() == 2


def test_it_revokes_a_key(client, manager, key_a) -> None:
    response = client.post(action_url("key_revoke", manager, key_a.key))

    assert response.status_code == 302
    assert response["Location"] == keys_url(manager)
    key = ApiKey.objects.get(pk=key_a.key.pk)
    assert key.revoked_at is not None
    assert key.status() == "revoked"
    page = client.get(response["Location"])
    assert b"has been revoked" in page.content
    assert b">revoked<" in page.content


def test_a_revoked_key_stops_authenticating(client, manager, key_a) -> None:
    client.post(action_url("key_revoke", manager, key_a.key))
    resolver.clear()
    response = client.get("/api/v1/key", HTTP_AUTHORIZATION=f"Bearer {key_a.secret}")
    assert response.status_code == 401


def test_it_rejects_malformed_key_ids_as_404(client, manager) -> None:
    slug = manager.workspace.slug
    assert client.post(f"/dashboard/w/{slug}/keys/not-a-uuid/revoke/").status_code == 404


def test_it_keeps_a_new_secret_out_of_the_session_rows(client, manager) -> None:
    from django.contrib.sessions.models import Session

    created = client.post(keys_url(manager), {"name": "backend", "all_plan_scopes": "on"})
    assert created.status_code == 302

    key = ApiKey.objects.get(workspace=manager.workspace, name="backend")
    stored = [str(session.get_decoded()) for session in Session.objects.all()]
    assert stored
    assert not any(key.last4 in data and "sk-tg-" in data for data in stored)
    response = client.get(created["Location"])
    [secret] = set(secrets_in(response))
    assert key.secret_hash == hash_secret(secret)
    assert not any(secret in data for data in stored)
    assert secrets_in(client.get(keys_url(manager))) == []
