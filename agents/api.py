"""The agents API (`/api/v1/agents…`, scope `chat_agent`): thin views over agents.services.
Managing agents is free; a call to one is a chat call, limited and metered like one."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema

from finetune.api import iso, newest_first
from proxy.dialects.openai import OpenAIDialect, wants_usage
from proxy.pipeline import run
from proxy.schema import SSE_DESCRIPTION, ChatCompletion, body, ok, streaming_ok
from proxy.validation import check_chat_request, fault
from proxy.views import GatewayView

from . import schema, services
from .models import Agent

TAGS = ["agents"]


def agent_object(agent: Agent) -> dict[str, Any]:
    return {
        "id": str(agent.pk),
        "object": "agent",
        "name": agent.name,
        "reference": agent.reference,
        "description": agent.description,
        "model": agent.model,
        "systemPrompt": agent.system_prompt,
        "parameters": agent.parameters,
        "tools": agent.tools,
        "createdBy": agent.created_by.email if agent.created_by else None,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
    }


class AgentsApiView(GatewayView):
    required_scope = services.SCOPE

    @property
    def workspace_id(self) -> str:
        return self.request.auth.workspace_id

    def agent(self, agent_id: str) -> Agent:
        return services.owned(self.workspace_id, agent_id)


class AgentsView(AgentsApiView):
    @extend_schema(
        tags=TAGS,
        operation_id="agents_list",
        parameters=[OpenApiParameter("limit", int, description="1-200, default 50")],
        responses={
            200: ok(schema.AgentList, schema.AGENT_LIST),
            **schema.errors("invalid_request_error"),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        agents = Agent.objects.for_workspace(self.workspace_id).select_related("created_by")
        return newest_first(request, agents.order_by("-created_at"), agent_object)

    @extend_schema(
        tags=TAGS,
        operation_id="agents_create",
        request=body(schema.AgentCreate, schema.AGENT_CREATE),
        responses={
            201: ok(schema.AgentObject, schema.AGENT),
            **schema.errors(
                schema.BAD_TOOL,
                "model_not_allowed",
                "model_not_found",
                "agent_name_taken",
                "request_too_large",
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        fields = services.check_fields(self.json_body(request), request.auth, partial=False)
        agent = services.create_agent(self.workspace_id, fields)
        return JsonResponse(agent_object(agent), status=201)


class AgentDetailView(AgentsApiView):
    @extend_schema(
        tags=TAGS,
        operation_id="agents_retrieve",
        responses={
            200: ok(schema.AgentObject, schema.AGENT),
            **schema.errors(schema.AGENT_NOT_FOUND),
        },
    )
    def get(self, request: Any, agent_id: str) -> HttpResponse:
        return JsonResponse(agent_object(self.agent(agent_id)))

    @extend_schema(
        tags=TAGS,
        operation_id="agents_update",
        request=body(schema.AgentUpdate, schema.AGENT_UPDATE),
        responses={
            200: ok(schema.AgentObject, schema.AGENT_UPDATED),
            **schema.errors(
                schema.BAD_TOOL,
                "model_not_allowed",
                schema.AGENT_NOT_FOUND,
                "agent_name_taken",
                "request_too_large",
            ),
        },
    )
    def patch(self, request: Any, agent_id: str) -> HttpResponse:
        agent = self.agent(agent_id)
        fields = services.check_fields(self.json_body(request), request.auth, partial=True)
        return JsonResponse(agent_object(services.update_agent(agent, fields)))

    @extend_schema(
        tags=TAGS,
        operation_id="agents_destroy",
        responses={204: None, **schema.errors(schema.AGENT_NOT_FOUND)},
    )
    def delete(self, request: Any, agent_id: str) -> HttpResponse:
        self.agent(agent_id).delete()
        return HttpResponse(status=204)


class AgentChatView(AgentsApiView):
    """POST /api/v1/agents/{id}/chat: {messages, stream?, …overrides}, answered like
    /api/v1/chat (a chat.completion, or its stream) with the agent's prompt and defaults."""

    endpoint = "agent_chat"

    @extend_schema(
        tags=TAGS,
        operation_id="agents_chat",
        request=body(schema.AgentChatRequest, schema.AGENT_CHAT, schema.AGENT_CHAT_STREAM),
        responses={
            **streaming_ok(
                ChatCompletion,
                schema.AGENT_COMPLETION,
                schema.AGENT_EVENTS,
                description=SSE_DESCRIPTION,
            ),
            **schema.errors(
                schema.SYSTEM_REPLACED,
                "insufficient_credit",
                "model_not_allowed",
                schema.AGENT_NOT_FOUND,
                "request_too_large",
                429,
                503,
                504,
            ),
        },
    )
    def post(self, request: Any, agent_id: str) -> HttpResponse:
        agent = self.agent(agent_id)
        body = self.json_body(request)
        if "model" in body:
            raise fault("model", "an agent calls its own model; PATCH the agent to change it")
        check_chat_request({**body, "model": agent.model})
        canonical = services.applied(agent, body)
        self.call.stream = body.get("stream") is True
        return run(
            self.call,
            canonical,
            meta=request.META,
            operation="chat",
            dialect=OpenAIDialect(include_usage=wants_usage(body)),
            requested_model=agent.reference,
        )
