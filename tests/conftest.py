"""Shared fixtures: the default catalog, personas (owner, member, outsider) and their keys."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.core.cache import cache

from accounts.models import Membership, Role, User, Workspace
from accounts.services import create_workspace
from billing import fallback, limiter
from billing.catalog import DEFAULT_CATALOG, apply_file
from billing.models import Plan
from billing.services import forget_catalog_settings
from keys.authentication import resolver
from keys.services import IssuedKey, issue_key
from proxy.registry import registry
from proxy.router import router

PASSWORD = "correct-horse-battery-staple-42"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
    for item in items:
        for marker, variable in needs.items():
            if item.get_closest_marker(marker) and not os.environ.get(variable):
                item.add_marker(pytest.mark.skip(reason=f"{variable} is not set"))


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Personas get passwords; PBKDF2 would cost a quarter of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _usage_written_at_once(settings) -> None:
    """Tests read usage records right after a call; the Redis queue has its own tests."""
    settings.USAGE_QUEUE = False


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    cache.clear()
    resolver.clear()
    registry.invalidate()
    router.clear()
    limiter.clear_local_store()
    fallback.reset()
    forget_catalog_settings()


@pytest.fixture
def catalog(db: None) -> None:
    apply_file(DEFAULT_CATALOG)


@dataclass
class Persona:
    user: User
    workspace: Workspace
    role: str


def _user(email: str) -> User:
    return User.objects.create_user(email=email, password=PASSWORD)


@pytest.fixture
def workspace_a(catalog: None) -> Workspace:
    return create_workspace("Acme", _user("owner@acme.test"), Plan.objects.get(code="chat_agent"))


@pytest.fixture
def workspace_b(catalog: None) -> Workspace:
    return create_workspace("Bravo", _user("owner@bravo.test"), Plan.objects.get(code="paid_chat"))


@pytest.fixture
def owner(workspace_a: Workspace) -> Persona:
    membership = Membership.objects.get(workspace=workspace_a, role=Role.OWNER)
    return Persona(membership.user, workspace_a, Role.OWNER)


@pytest.fixture
def member(workspace_a: Workspace) -> Persona:
    user = _user("member@acme.test")
    Membership.objects.create(user=user, workspace=workspace_a, role=Role.MEMBER)
    return Persona(user, workspace_a, Role.MEMBER)


@pytest.fixture
def outsider(workspace_b: Workspace) -> Persona:
    membership = Membership.objects.get(workspace=workspace_b, role=Role.OWNER)
    return Persona(membership.user, workspace_b, Role.OWNER)


@pytest.fixture
def key_a(owner: Persona) -> IssuedKey:
    return issue_key(owner.workspace, "ci", created_by=owner.user)


@pytest.fixture
def key_b(outsider: Persona) -> IssuedKey:
    return issue_key(outsider.workspace, "bravo-ci", created_by=outsider.user)


UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: a stopped Redis


@pytest.fixture
def redis_unreachable(settings, monkeypatch) -> None:
    """The live counters' Redis is configured but down, as in a production outage."""
    import config.redis_client as module

    settings.REDIS_URL = UNREACHABLE_REDIS
    monkeypatch.setattr(module, "_client", None)
