"""A workspace's team: invitations by link, roles, removal.

Rules, enforced here whatever the page shows:
- only owners and admins change the team;
- only an owner can make an owner, or change or remove one (an invitation as owner included);
- a workspace always keeps an owner: its last owner can be neither demoted nor removed;
- anyone may leave a workspace, except its last owner.

Every change locks the workspace's row first, so two changes of one team run one after the other
and the owner count they check is the current one (two owners demoting each other at once leave
one owner, not none).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .forms import normalize_email
from .models import Invitation, Membership, Role, User, Workspace

INVITATION_DAYS = 7
TOKEN_BYTES = 32
MAIL_TIMEOUT_SECONDS = 10  # when settings.EMAIL_TIMEOUT is unset: a page never waits longer

logger = logging.getLogger(__name__)


class TeamError(Exception):
    """A change the rules refuse; the message says why, to the person who tried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvitationUnusable(Exception):
    """An invitation link that cannot be used: `reason` is unknown, accepted, revoked, expired
    or member (the user is in the workspace already)."""

    def __init__(self, reason: str, invitation: Invitation | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invitation = invitation


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once, never stored


def hash_token(token: str) -> str:
    """Tokens are 256 random bits: a plain SHA-256 is enough to make the stored value useless."""
    return hashlib.sha256(token.encode()).hexdigest()


def team_of(workspace: Workspace) -> list[Membership]:
    """The workspace's members: owners, then admins, then members, each by email."""
    order = {Role.OWNER: 0, Role.ADMIN: 1, Role.MEMBER: 2}
    members = Membership.objects.for_workspace(workspace).select_related("user")
    return sorted(members, key=lambda m: (order.get(m.role, 3), m.user.email))


def pending_invitations(workspace: Workspace) -> list[Invitation]:
    now = timezone.now()
    invitations = Invitation.objects.for_workspace(workspace).select_related("invited_by")
    return list(invitations.filter(accepted_at=None, revoked_at=None, expires_at__gt=now))


def assignable_roles(actor: Membership) -> list[str]:
    """The roles `actor` may give (to a member or an invitation)."""
    if actor.role == Role.OWNER:
        return [Role.OWNER, Role.ADMIN, Role.MEMBER]
    if actor.role == Role.ADMIN:
        return [Role.ADMIN, Role.MEMBER]
    return []


def _lock_row(workspace: Workspace) -> None:
    """Lock the workspace's row: the team's changes run one after the other."""
    Workspace.objects.select_for_update().get(pk=workspace.pk)


def _lock(workspace: Workspace, actor: Membership) -> Membership:
    """Lock the workspace's team; `actor` as it is now (its role may have changed since)."""
    _lock_row(workspace)
    current = Membership.objects.filter(pk=actor.pk, workspace=workspace).first()
    if current is None or not current.can_manage:
        raise TeamError("Only owners and admins can change the team.")
    return current


def _current(target: Membership) -> Membership:
    current = Membership.objects.filter(pk=target.pk).select_related("user").first()
    if current is None:
        raise TeamError("This person is no longer in the workspace.")
    return current


def _owners(workspace: Workspace) -> int:
    return Membership.objects.for_workspace(workspace).filter(role=Role.OWNER).count()


def _check_role(actor: Membership, role: str) -> None:
    if role not in Role.values:
        raise TeamError("Choose owner, admin or member.")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise TeamError("Only an owner can make someone an owner.")


# --- invitations --------------------------------------------------------------------------


@transaction.atomic
def invite(
    workspace: Workspace, actor: Membership, role: str, note: str = "", email: str = ""
) -> IssuedInvitation:
    """A new invitation link for `role`, valid for INVITATION_DAYS days and one use; `email`,
    if any, is where it is also sent (see send_invitation)."""
    actor = _lock(workspace, actor)
    _check_role(actor, role)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation.objects.create(
        workspace=workspace,
        token_hash=hash_token(token),
        role=role,
        note=note.strip()[:100],
        email=normalize_email(email),
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return IssuedInvitation(invitation, token)


def send_invitation(issued: IssuedInvitation, link: str) -> bool:
    """E-mail `link` to the invitation's address (after `invite` has committed). False, logged,
    when there is no address or the mail server refuses or cannot be reached: the invitation
    stays, and its link is still shown once to the person who made it."""
    invitation = issued.invitation
    if not invitation.email:
        return False
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace,
        "inviter": (inviter.name or inviter.email) if inviter else "Someone",
        "inviter_email": inviter.email if inviter else "",
        "link": link,
        "invitation_days": INVITATION_DAYS,
    }
    subject = " ".join(render_to_string("accounts/invitation_subject.txt", context).split())
    message = EmailMessage(
        subject=subject,
        body=render_to_string("accounts/invitation_email.txt", context),
        to=[invitation.email],
        reply_to=[inviter.email] if inviter else None,
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT or MAIL_TIMEOUT_SECONDS),
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        logger.warning("invitation %s: the e-mail could not be sent", invitation.pk, exc_info=True)
        return False
    return True


@transaction.atomic
def revoke_invitation(invitation: Invitation, actor: Membership) -> None:
    """A pending invitation stops working; its link says it was revoked."""
    actor = _lock(invitation.workspace, actor)
    if invitation.role == Role.OWNER and actor.role != Role.OWNER:
        raise TeamError("Only an owner can revoke an invitation as owner.")
    updated = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise TeamError("This invitation was already used or revoked.")


@dataclass(frozen=True)
class RevokeOutcome:
    revoked: int
    skipped: dict[str, int]  # status → count: accepted, revoked, expired


def revoke_invitations(invitations: Iterable[Invitation]) -> RevokeOutcome:
    """The operator's revocation (Django admin): every still-pending invitation among
    `invitations` stops working; used, revoked and expired ones stay as they are, counted."""
    ids = [invitation.pk for invitation in invitations]
    now = timezone.now()
    revoked = Invitation.objects.filter(
        pk__in=ids, accepted_at=None, revoked_at=None, expires_at__gt=now
    ).update(revoked_at=now)
    skipped = Counter(
        invitation.status(now)
        for invitation in Invitation.objects.filter(pk__in=ids).exclude(revoked_at=now)
    )
    return RevokeOutcome(revoked, dict(skipped))


def find_invitation(token: str) -> Invitation:
    """The invitation a link names, if it can still be used; InvitationUnusable otherwise."""
    invitation = (
        Invitation.objects.select_related("workspace", "invited_by")
        .filter(token_hash=hash_token(token))
        .first()
    )
    if invitation is None:
        raise InvitationUnusable("unknown")
    status = invitation.status()
    if status != "pending":
        raise InvitationUnusable(status, invitation)
    return invitation


@transaction.atomic
def accept_invitation(token: str, user: User) -> Membership:
    """`user` joins the invitation's workspace with its role. One use: of two people accepting
    one link at once, one joins and the other is told it was used."""
    invitation = find_invitation(token)
    workspace = invitation.workspace
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise InvitationUnusable("member", invitation)  # the link stays usable for its invitee
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, accepted_at=None, revoked_at=None, expires_at__gt=now
    ).update(accepted_at=now, accepted_by=user)
    if not claimed:
        invitation.refresh_from_db()
        raise InvitationUnusable(invitation.status(now), invitation)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=user, workspace=workspace, role=invitation.role)
    except IntegrityError:  # joined through another link at the same moment: nothing is kept
        raise InvitationUnusable("member", invitation) from None


# --- members ------------------------------------------------------------------------------


@transaction.atomic
def change_role(target: Membership, role: str, actor: Membership) -> Membership:
    actor = _lock(target.workspace, actor)
    _check_role(actor, role)
    target = _current(target)
    if target.role == role:
        return target
    if target.role == Role.OWNER:
        if actor.role != Role.OWNER:
            raise TeamError("Only an owner can change an owner's role.")
        if _owners(target.workspace) <= 1:
            raise TeamError("A workspace always keeps an owner: make someone else owner first.")
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def remove_member(target: Membership, actor: Membership) -> None:
    actor = _lock(target.workspace, actor)
    target = _current(target)
    if target.role == Role.OWNER:
        if actor.role != Role.OWNER:
            raise TeamError("Only an owner can remove an owner.")
        if _owners(target.workspace) <= 1:
            raise TeamError("A workspace always keeps an owner: make someone else owner first.")
    target.delete()


@transaction.atomic
def leave(membership: Membership) -> None:
    """`membership`'s user leaves its workspace: any member may, but not its last owner (two
    owners leaving at once: one leaves, the other is refused)."""
    workspace = membership.workspace
    _lock_row(workspace)
    current = Membership.objects.filter(pk=membership.pk, workspace=workspace).first()
    if current is None:
        return  # left already
    if current.role == Role.OWNER and _owners(workspace) <= 1:
        raise TeamError(
            f"You are the only owner of {workspace.name}, and a workspace always keeps an owner: "
            "make someone else owner first, then leave."
        )
    current.delete()
