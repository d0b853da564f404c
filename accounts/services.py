"""Sign-up and workspaces."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from billing.ledger import signup_grant
from billing.models import Plan
from billing.services import default_plan, subscribe

from .models import Membership, Role, User, Workspace


def unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(5, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


@transaction.atomic
def create_workspace(name: str, owner: User, plan: Plan | None = None) -> Workspace:
    """A workspace with its owner and an active subscription (the default plan if none given)."""
    workspace = Workspace.objects.create(name=name.strip() or "Workspace", slug=unique_slug(name))
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    subscription = subscribe(workspace, plan or default_plan())
    signup_grant(workspace, subscription.plan.signup_balance)
    return workspace


@transaction.atomic
def sign_up(email: str, password: str, workspace_name: str = "") -> tuple[User, Workspace]:
    """A new user, their first workspace, on the default (trial) plan."""
    user = User.objects.create_user(email=email, password=password)
    name = workspace_name.strip() or f"{email.split('@', 1)[0]}'s workspace"
    return user, create_workspace(name, user)


def find_workspace(ref: str) -> Workspace | None:
    """A workspace by slug or id, as operators name them on the command line."""
    found = Workspace.objects.filter(slug=ref).first()
    if found is None:
        try:
            found = Workspace.objects.filter(pk=ref).first()
        except ValidationError:  # not a UUID either
            return None
    return found


def memberships_of(user: User) -> list[Membership]:
    return list(user.memberships.select_related("workspace").order_by("workspace__name"))
