from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Membership, User, Workspace
from keys.models import ApiKey
from keys.secrets import hash_secret, is_well_formed


def run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_it_creates_a_workspace_and_its_owner(catalog) -> None:
    result = run("create_workspace", "--name", "Acme", "--owner", "Boss@Acme.test", "--plan", "pro")
    assert result == {
        "workspace": str(Workspace.objects.get().pk),
        "owner": "boss@acme.test",
        "plan": "pro",
    }
    membership = Membership.objects.get()
    assert (membership.user.email, membership.role) == ("boss@acme.test", "owner")
    assert membership.workspace.subscription.plan.code == "pro"
    assert membership.workspace.subscription.is_active


def test_it_reuses_an_existing_owner(catalog) -> None:
    User.objects.create_user(email="boss@acme.test", password="x" * 20)
    run("create_workspace", "--name", "One", "--owner", "boss@acme.test", "--plan", "basic")
    run("create_workspace", "--name", "Two", "--owner", "boss@acme.test", "--plan", "basic")
    assert User.objects.count() == 1
    assert Workspace.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "A", "--owner", "not-an-email", "--plan", "pro"], "--owner"),
        (["--name", "A", "--owner", "a@b.test", "--plan", "gold"], "unknown plan 'gold'"),
        (["--name", " ", "--owner", "a@b.test", "--plan", "pro"], "--name"),
    ],
)
def test_it_rejects_bad_workspace_arguments(catalog, args, message) -> None:
    with pytest.raises(CommandError, match=message) as caught:
        call_command("create_workspace", *args)
    assert caught.value.returncode == 2
    assert not Workspace.objects.exists()


def test_it_issues_an_api_key_once(owner, client) -> None:
    result = run("create_api_key", "--workspace", str(owner.workspace.pk), "--name", "ci")
    assert set(result) == {"id", "key"}
    assert is_well_formed(result["key"])
    key = ApiKey.objects.get(pk=result["id"])
    assert key.secret_hash == hash_secret(result["key"])
    assert key.scopes == ["chat", "chat_agent"]
    assert client.get("/api/v1/key", HTTP_X_API_KEY=result["key"]).status_code == 200


def test_it_issues_a_scoped_expiring_key(owner) -> None:
    result = run(
        "create_api_key", "--workspace", owner.workspace.slug, "--name", "short",
        "--scopes", "chat", "--expires-in", "3600",
    )  # fmt: skip
    key = ApiKey.objects.get(pk=result["id"])
    assert key.scopes == ["chat"]
    assert key.expires_at is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "nope", "--name", "k"], "no workspace 'nope'"),
        (["--workspace", "{ws}", "--name", "k", "--scopes", "chat_agent_train"], "not in the workspace's plan"),
        (["--workspace", "{ws}", "--name", "k", "--scopes", "root"], "unknown scope 'root'"),
        (["--workspace", "{ws}", "--name", "k", "--expires-in", "0"], "--expires-in"),
    ],
)  # fmt: skip
def test_it_rejects_bad_key_arguments(owner, args, message) -> None:
    args = [a.replace("{ws}", str(owner.workspace.pk)) for a in args]
    with pytest.raises(CommandError, match=message) as caught:
        call_command("create_api_key", *args)
    assert caught.value.returncode == 2
    assert not ApiKey.objects.exists()
