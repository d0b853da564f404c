"""Dashboard pages of the gateway: the playground, and the call it makes."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views import View
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from accounts.demo import demo_upstream
from agents import services as agent_services
from agents.models import Agent
from billing import metering
from billing.metering import Call
from billing.services import catalog_settings
from config import dbprobe
from keys.authentication import workspace_principal
from keys.principal import Principal

from .dialects.openai import OpenAIDialect, wants_usage
from .errors import ApiError, as_api_error
from .pipeline import read_body, request_id_of, run, visible_models
from .registry import ModelInfo, registry
from .validation import check_chat_request, parse_json_object

log = logging.getLogger(__name__)

# Usage records of the playground's calls carry this as their dialect: the wire format is
# OpenAI's Chat Completions, the caller the signed-in user rather than an API key.
PLAYGROUND = "playground"


class PlaygroundView(WorkspaceMixin, TemplateView):
    """Chat with a model through the gateway itself, streamed, with the call's cost. The page
    calls PlaygroundChatView as the signed-in user: no key to paste, and the call goes through
    the one pipeline, limited, metered and billed against the workspace like any other."""

    template_name = "proxy/playground.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        principal = workspace_principal(self.workspace)
        context["models"] = [m for m in visible_models(principal) if m.kind == "chat"]
        context["agents"] = callable_agents(principal, context["models"])
        context["selected"] = self.request.GET.get("model", "")
        credits = catalog_settings().get("endpoint_credits") or {}
        context["credits_per_call"] = int(credits.get("chat_completions", 0))
        context["api_base"] = settings.PUBLIC_BASE_URL + "/v1"
        context["demo_upstream"] = demo_upstream()
        return context


class PlaygroundChatView(WorkspaceMixin, View):
    """POST …/playground/chat: an OpenAI Chat Completions body from the playground, sent as the
    signed-in member's workspace (session and CSRF token, no API key), through proxy.pipeline.run
    like /v1/chat/completions: admitted against the workspace's plan, metered and charged, its
    usage record marked with the dialect `playground`. Errors are OpenAI's JSON, never HTML."""

    http_method_names = ["post"]
    dialect = OpenAIDialect()

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        call: Call | None = None
        try:
            dbprobe.require()
            principal = workspace_principal(self.workspace)
            if not principal.subscription_active:
                raise ApiError(
                    403, "no_active_subscription", "This workspace has no active subscription."
                )
            call = Call(
                principal=principal,
                request_id=request.META.get("HTTP_X_REQUEST_ID") or request_id_of(request.META),
                endpoint="chat_completions",
                dialect=PLAYGROUND,
            )
            body = parse_json_object(read_body(request))
            check_chat_request(body)
            body, called = agent_services.expand(body, principal)
            call.stream = body.get("stream") is True
            return run(
                call,
                body,
                meta=request.META,
                operation="chat",
                dialect=OpenAIDialect(include_usage=wants_usage(body)),
                requested_model=called,
            )
        except Exception as exc:
            error = as_api_error(exc)
            if error is None:
                log.exception("unexpected error in the playground")
                error = ApiError(
                    500, "internal_error", "The gateway failed unexpectedly; it has been logged."
                )
            if call is not None and not call.settled:
                call.fail(error.status, error.code)
                metering.settle(call)
            return self.dialect.error_response(error)


def callable_agents(principal: Principal, models: list[ModelInfo]) -> list[tuple[Agent, ModelInfo]]:
    """The workspace's agents whose model it may call, each with that model (for its prices);
    none without the chat_agent scope."""
    if agent_services.SCOPE not in principal.scopes:
        return []
    callable_models = {m.name for m in models}
    snapshot = registry.snapshot()
    pairs = []
    for agent in Agent.objects.for_workspace(principal.workspace_id):
        model = snapshot.resolve(agent.model, principal.workspace_id)
        if model is not None and model.name in callable_models:
            pairs.append((agent, model))
    return pairs
