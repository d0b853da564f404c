"""The customer dashboard, mounted at /dashboard/. Workspace pages live under w/<slug>/."""

from __future__ import annotations

from django.urls import path

from agents import dashboard as agent_views
from billing import usage_views
from billing import views as billing_views
from finetune import dashboard as finetune_views
from keys import views as key_views
from proxy import dashboard as gateway_views
from proxy import models_page

from . import docs_page, team_views, views

app_name = "dashboard"
urlpatterns = [
    path("", views.dashboard_home, name="home"),
    path("w/<slug:slug>/", views.WorkspaceHomeView.as_view(), name="workspace"),
    path("w/<slug:slug>/keys/", key_views.KeyListView.as_view(), name="keys"),
    path("w/<slug:slug>/billing/", billing_views.BillingView.as_view(), name="billing"),
    path(
        "w/<slug:slug>/billing/plan-request/",
        billing_views.PlanRequestView.as_view(),
        name="plan_request",
    ),
    path("w/<slug:slug>/usage/", usage_views.UsageView.as_view(), name="usage"),
    path("w/<slug:slug>/playground/", gateway_views.PlaygroundView.as_view(), name="playground"),
    path(
        "w/<slug:slug>/playground/chat",
        gateway_views.PlaygroundChatView.as_view(),
        name="playground_chat",
    ),
    path("w/<slug:slug>/finetune/", finetune_views.FinetunePage.as_view(), name="finetune"),
    path(
        "w/<slug:slug>/finetune/jobs/<str:job_id>/",
        finetune_views.JobProgressView.as_view(),
        name="finetune_job",
    ),
    path(
        "w/<slug:slug>/finetune/jobs/<str:job_id>/register/",
        finetune_views.JobRegisterPageView.as_view(),
        name="finetune_register",
    ),
    path("w/<slug:slug>/agents/", agent_views.AgentsPage.as_view(), name="agents"),
    path("w/<slug:slug>/agents/<uuid:agent_id>/", agent_views.AgentPage.as_view(), name="agent"),
    path(
        "w/<slug:slug>/agents/<uuid:agent_id>/delete/",
        agent_views.AgentDeleteView.as_view(),
        name="agent_delete",
    ),
    path("w/<slug:slug>/usage.csv", usage_views.UsageCsvView.as_view(), name="usage_csv"),
    path("w/<slug:slug>/models/", models_page.ModelsView.as_view(), name="models"),
    path("w/<slug:slug>/docs/", docs_page.DocsView.as_view(), name="docs"),
    path("w/<slug:slug>/team/", team_views.TeamView.as_view(), name="team"),
    path(
        "w/<slug:slug>/team/members/<int:member_id>/role/",
        team_views.MemberRoleView.as_view(),
        name="team_member_role",
    ),
    path(
        "w/<slug:slug>/team/members/<int:member_id>/remove/",
        team_views.MemberRemoveView.as_view(),
        name="team_member_remove",
    ),
    path("w/<slug:slug>/team/leave/", team_views.LeaveView.as_view(), name="team_leave"),
    path(
        "w/<slug:slug>/team/invitations/<int:invitation_id>/revoke/",
        team_views.InvitationRevokeView.as_view(),
        name="team_invitation_revoke",
    ),
    path(
        "w/<slug:slug>/keys/<uuid:key_id>/rotate/",
        key_views.KeyRotateView.as_view(),
        name="key_rotate",
    ),
    path(
        "w/<slug:slug>/keys/<uuid:key_id>/scopes/",
        key_views.KeyScopesView.as_view(),
        name="key_scopes",
    ),
    path(
        "w/<slug:slug>/keys/<uuid:key_id>/cap/",
        key_views.KeyCapView.as_view(),
        name="key_cap",
    ),
    path(
        "w/<slug:slug>/keys/<uuid:key_id>/revoke/",
        key_views.KeyRevokeView.as_view(),
        name="key_revoke",
    ),
]
