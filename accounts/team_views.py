"""Dashboard: the team page (members, roles, invitations) and the invitation link's page.

The views are thin: the rules live in accounts.team. Members see the team; owners and admins
get the controls, and every POST is refused (403) for a member whatever the page showed. A new
invitation link is rendered in the POST's response only (`Cache-Control: no-store`), like a new
API key: only its hash is stored. Given an address, the link is also e-mailed; a mail server
that fails leaves the invitation made, and the page says the e-mail was not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from .dashboard import WorkspaceMixin
from .models import Invitation, Membership, Role
from .team import (
    INVITATION_DAYS,
    InvitationUnusable,
    IssuedInvitation,
    TeamError,
    accept_invitation,
    assignable_roles,
    change_role,
    find_invitation,
    invite,
    leave,
    pending_invitations,
    remove_member,
    revoke_invitation,
    send_invitation,
    team_of,
)

WRITE = frozenset({"POST"})
ROLE_LABELS = dict(Role.choices)


def role_choices(roles: list[str]) -> list[tuple[str, str]]:
    return [(role, ROLE_LABELS[role]) for role in roles]


class InviteForm(forms.Form):
    role = forms.ChoiceField(label="Role")
    note = forms.CharField(
        label="For",
        required=False,
        max_length=100,
        help_text="A name or email, to recognise the invitation later. Only your team sees it.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Dana (backend)", "autocomplete": "off"}),
    )
    email = forms.EmailField(
        label="Send it to",
        required=False,
        max_length=254,
        help_text="An email address to send the link to as well. Empty: you send it yourself.",
        widget=forms.EmailInput(attrs={"placeholder": "dana@example.com", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(roles)
        self.fields["role"].initial = Role.MEMBER


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    is_you: bool
    last_owner: bool
    roles: list[tuple[str, str]]  # what the viewer may set; [] when they cannot change this row
    can_remove: bool  # someone else, by an owner or admin
    can_leave: bool  # the viewer's own row, unless they are the last owner


def invitation_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("invitation", args=[token])


class TeamPageMixin(WorkspaceMixin):
    template_name = "accounts/team.html"
    manage_methods = WRITE

    def rows(self) -> list[MemberRow]:
        viewer = self.membership
        members = team_of(self.workspace)
        owners = sum(1 for m in members if m.role == Role.OWNER)
        rows = []
        for member in members:
            last_owner = member.role == Role.OWNER and owners <= 1
            may_touch = viewer.can_manage and (
                member.role != Role.OWNER or viewer.role == Role.OWNER
            )
            is_you = member.user_id == viewer.user_id
            rows.append(
                MemberRow(
                    membership=member,
                    is_you=is_you,
                    last_owner=last_owner,
                    roles=role_choices(assignable_roles(viewer))
                    if may_touch and not last_owner
                    else [],
                    can_remove=may_touch and not last_owner and not is_you,
                    can_leave=is_you and not last_owner,
                )
            )
        return rows

    def invite_form(self, data: Any = None) -> InviteForm:
        return InviteForm(data, roles=assignable_roles(self.membership))

    def render_page(
        self,
        *,
        form: InviteForm | None = None,
        issued: IssuedInvitation | None = None,
        mailed: bool | None = None,
        row_error: tuple[int, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        can_manage = self.membership.can_manage
        context = {
            **self.workspace_context(),
            "rows": self.rows(),
            "invitations": pending_invitations(self.workspace) if can_manage else [],
            "form": (form or self.invite_form()) if can_manage else None,
            "issued": issued,
            "issued_url": invitation_url(issued.token) if issued else "",
            "mailed": mailed,  # None: no address given; False: the e-mail could not be sent
            "row_error": row_error,
            "invitation_days": INVITATION_DAYS,
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)


@method_decorator(never_cache, "dispatch")
class TeamView(TeamPageMixin, View):
    """GET: the team (and, for owners and admins, invitations). POST: a new invitation link."""

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        return self.render_page()

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        form = self.invite_form(request.POST)
        if form.is_valid():
            try:
                issued = invite(
                    self.workspace,
                    self.membership,
                    form.cleaned_data["role"],
                    form.cleaned_data["note"],
                    form.cleaned_data["email"],
                )
            except TeamError as error:
                form.add_error("role", error.message)
            else:
                mailed = (
                    send_invitation(issued, invitation_url(issued.token))
                    if issued.invitation.email
                    else None
                )
                return self.render_page(issued=issued, mailed=mailed)
        return self.render_page(form=form)


@method_decorator(never_cache, "dispatch")
class InvitationRevokeView(TeamPageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
        invitation = self.get_owned(Invitation, pk=invitation_id)
        try:
            revoke_invitation(invitation, self.membership)
        except TeamError as error:  # the row may be gone from the page: say it on top
            messages.error(request, error.message)
        else:
            messages.success(request, "Invitation revoked: its link no longer works.")
        return redirect("dashboard:team", slug=self.workspace.slug)


@method_decorator(never_cache, "dispatch")
class MemberRoleView(TeamPageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
        target = self.get_owned(Membership, pk=member_id)
        form = RoleForm(request.POST)
        if not form.is_valid():
            return self.render_page(row_error=(target.pk, "Choose a role."))
        try:
            changed = change_role(target, form.cleaned_data["role"], self.membership)
        except TeamError as error:
            return self.render_page(row_error=(target.pk, error.message))
        messages.success(request, f"{changed.user.email} is now {changed.get_role_display()}.")
        return redirect("dashboard:team", slug=self.workspace.slug)


@method_decorator(never_cache, "dispatch")
class MemberRemoveView(TeamPageMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str, member_id: int) -> HttpResponse:
        target = self.get_owned(Membership, pk=member_id)
        email = target.user.email
        try:
            remove_member(target, self.membership)
        except TeamError as error:
            return self.render_page(row_error=(target.pk, error.message))
        if target.user_id == request.user.pk:
            messages.success(request, f"You left {self.workspace.name}.")
            return redirect("dashboard:home")
        messages.success(request, f"{email} was removed from the workspace.")
        return redirect("dashboard:team", slug=self.workspace.slug)


@method_decorator(never_cache, "dispatch")
class LeaveView(TeamPageMixin, View):
    """POST: the signed-in user leaves the workspace (any role; its last owner is refused)."""

    http_method_names = ["post"]
    manage_methods = frozenset()  # members may leave too

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        try:
            leave(self.membership)
        except TeamError as error:
            return self.render_page(row_error=(self.membership.pk, error.message))
        messages.success(request, f"You left {self.workspace.name}.")
        return redirect("dashboard:home")


# --- the invitation link ------------------------------------------------------------------

UNUSABLE_STATUS = {"unknown": 404, "accepted": 410, "revoked": 410, "expired": 410, "member": 200}


@method_decorator(never_cache, "dispatch")
class InvitationView(View):
    """/invite/<token>/. GET: what the link offers; anonymous users are asked to log in or sign
    up and come back here. POST (logged in): join the workspace with the invitation's role."""

    template_name = "accounts/invitation.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            invitation = find_invitation(token)
        except InvitationUnusable as unusable:
            return self.unusable(unusable)
        user = request.user
        if (
            user.is_authenticated
            and Membership.objects.filter(workspace=invitation.workspace, user=user).exists()
        ):
            return self.unusable(InvitationUnusable("member", invitation))
        return self.render(invitation=invitation)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.path)
        try:
            membership = accept_invitation(token, request.user)
        except InvitationUnusable as unusable:
            return self.unusable(unusable)
        workspace = membership.workspace
        messages.success(
            request, f"Welcome to {workspace.name}! You joined as {membership.get_role_display()}."
        )
        return redirect("dashboard:workspace", slug=workspace.slug)

    def unusable(self, unusable: InvitationUnusable) -> HttpResponse:
        return self.render(
            invitation=unusable.invitation,
            reason=unusable.reason,
            status=UNUSABLE_STATUS[unusable.reason],
        )

    def render(self, *, status: int = 200, **context: Any) -> HttpResponse:
        context.setdefault("reason", "")
        context["invitation_days"] = INVITATION_DAYS
        return TemplateResponse(self.request, self.template_name, context, status=status)
