"""The dashboard's Agents page: create, edit and delete a workspace's agents, and try one in the
playground. The form is a front for the API's checks (agents.services), so a fault reads the
same here as there, shown beside its field."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from keys.authentication import workspace_principal
from keys.principal import Principal
from proxy.errors import ApiError
from proxy.pipeline import visible_models

from . import services
from .models import Agent

# The API's field paths (an ApiError's `param`) → this form's fields.
FIELD_OF = {
    "name": "name",
    "description": "description",
    "model": "model",
    "systemPrompt": "system_prompt",
    "parameters": "temperature",
    "tools": "tools",
}


class AgentForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        help_text='Letters, digits, "_", "-" or "."; called as model agent:&lt;name&gt;',
    )
    description = forms.CharField(
        max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    model = forms.ChoiceField()
    system_prompt = forms.CharField(
        label="System prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Always sent first; a call cannot replace it.",
    )
    temperature = forms.FloatField(required=False, help_text="0–2")
    top_p = forms.FloatField(label="Top p", required=False, help_text="0–1")
    max_tokens = forms.IntegerField(label="Max tokens", required=False)
    stop = forms.CharField(
        label="Stop sequences",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line, up to 4.",
    )
    tools = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}),
        help_text='A JSON array of OpenAI function tools: [{"type": "function", "function": '
        '{"name": …, "description": …, "parameters": {JSON Schema}}}]',
    )

    def __init__(self, *args: Any, models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m, m) for m in models]

    @classmethod
    def of(cls, agent: Agent, models: list[str]) -> AgentForm:
        parameters = agent.parameters
        stop = parameters.get("stop")
        return cls(
            models=sorted({*models, agent.model}),
            initial={
                "name": agent.name,
                "description": agent.description,
                "model": agent.model,
                "system_prompt": agent.system_prompt,
                "temperature": parameters.get("temperature"),
                "top_p": parameters.get("top_p"),
                "max_tokens": parameters.get("max_tokens"),
                "stop": "\n".join([stop] if isinstance(stop, str) else stop or []),
                "tools": json.dumps(agent.tools, indent=2) if agent.tools else "",
            },
        )

    def api_body(self) -> dict[str, Any] | None:
        """The API's body for the cleaned data; None (with the error on `tools`) if the tools
        are not JSON."""
        data = self.cleaned_data
        try:
            tools = json.loads(data["tools"]) if data["tools"].strip() else []
        except json.JSONDecodeError as exc:
            self.add_error("tools", f"Not valid JSON: {exc}")
            return None
        stop = [line.strip() for line in data["stop"].splitlines() if line.strip()]
        parameters = {
            "temperature": data["temperature"],
            "top_p": data["top_p"],
            "max_tokens": data["max_tokens"],
            "stop": stop or None,
        }
        return {
            "name": data["name"],
            "description": data["description"],
            "model": data["model"],
            "systemPrompt": data["system_prompt"],
            "parameters": {k: v for k, v in parameters.items() if v is not None},
            "tools": tools,
        }

    def add_api_error(self, error: ApiError) -> None:
        param = error.param or ""
        if param.startswith("parameters."):
            field = param.split(".", 1)[1]
            field = field if field in self.fields else None
        else:
            field = FIELD_OF.get(param.split(".", 1)[0].split("[", 1)[0])
        self.add_error(field, error.message)


class AgentsMixin(WorkspaceMixin):
    @property
    def principal(self) -> Principal:
        return workspace_principal(self.workspace)

    def allowed(self) -> bool:
        return services.SCOPE in self.principal.scopes

    def chat_models(self) -> list[str]:
        return [m.name for m in visible_models(self.principal) if m.kind == "chat"]

    def save(self, form: AgentForm, agent: Agent | None) -> Agent | None:
        """The form's agent created or updated through the API's checks; None (errors on the
        form) when they refuse it."""
        if not form.is_valid() or (body := form.api_body()) is None:
            return None
        try:
            fields = services.check_fields(body, self.principal, partial=False)
            if agent is None:
                return services.create_agent(str(self.workspace.pk), fields, self.request.user)
            return services.update_agent(agent, fields)
        except ApiError as error:
            form.add_api_error(error)
            return None


class AgentsPage(AgentsMixin, TemplateView):
    template_name = "agents/agents.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            allowed=self.allowed(),
            agents=list(
                Agent.objects.for_workspace(self.workspace).select_related("created_by")[:200]
            ),
            form=kwargs.get("form") or AgentForm(models=self.chat_models()),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.allowed():
            return self.get(request, *args, **kwargs)
        form = AgentForm(request.POST, models=self.chat_models())
        agent = self.save(form, None)
        if agent is None:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        messages.success(
            request, f"Agent “{agent.name}” created: call it as model {agent.reference}."
        )
        return redirect("dashboard:agent", slug=self.workspace.slug, agent_id=agent.pk)


class AgentPage(AgentsMixin, TemplateView):
    template_name = "agents/agent.html"

    def agent(self) -> Agent:
        return self.get_owned(Agent, pk=self.kwargs["agent_id"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        agent = kwargs.get("agent") or self.agent()
        context.update(
            allowed=self.allowed(),
            agent=agent,
            base_url=settings.PUBLIC_BASE_URL,
            form=kwargs.get("form") or AgentForm.of(agent, self.chat_models()),
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        agent = self.agent()
        if not self.allowed():
            return self.get(request, *args, **kwargs)
        form = AgentForm(request.POST, models=sorted({*self.chat_models(), agent.model}))
        if self.save(form, agent) is None:
            agent.refresh_from_db()
            return self.render_to_response(
                self.get_context_data(agent=agent, form=form), status=400
            )
        messages.success(request, f"Agent “{agent.name}” saved.")
        return redirect("dashboard:agent", slug=self.workspace.slug, agent_id=agent.pk)


class AgentDeleteView(AgentsMixin, View):
    def post(self, request: HttpRequest, slug: str, agent_id: str) -> HttpResponse:
        agent = self.get_owned(Agent, pk=agent_id)
        agent.delete()
        messages.success(request, f"Agent “{agent.name}” deleted.")
        return redirect("dashboard:agents", slug=self.workspace.slug)
