"""Agents routes, mounted under /api/v1/ (config/urls.py)."""

from __future__ import annotations

from django.urls import path

from . import api

agents_api_patterns = [
    path("agents", api.AgentsView.as_view(), name="agents"),
    path("agents/<str:agent_id>", api.AgentDetailView.as_view(), name="agent"),
    path("agents/<str:agent_id>/chat", api.AgentChatView.as_view(), name="agent-chat"),
]
