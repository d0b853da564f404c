"""Agents: checking what a customer sends, storing it, and turning a call to an agent into the
canonical chat request the pipeline runs.

An agent's call is a chat call like any other: the pipeline resolves the agent's model against
the plan and the key at call time, admits, routes and meters it. What an agent adds is applied
here, before the pipeline: its system prompt first (a request cannot replace it), then its default
parameters and tools, each of which the request may override.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from config.safe_text import json_fault
from keys.permissions import insufficient_scope
from keys.principal import Principal
from proxy.errors import ApiError
from proxy.pipeline import resolve_model
from proxy.validation import check_sampling, check_tools, fault, type_name

from .models import Agent

SCOPE = "chat_agent"
PREFIX = "agent:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for function names
PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)
MAX_TOOLS = 128
MAX_SYSTEM_PROMPT = 100_000
MAX_DESCRIPTION = 1000
MAX_DEPTH = 32  # objects and arrays, a tool's JSON Schema included
FIELDS = ("name", "description", "model", "systemPrompt", "parameters", "tools")
SYSTEM_ROLES = ("system", "developer")


def owned(workspace_id: str, agent_id: Any) -> Agent:
    """The workspace's agent, or 404 agent_not_found (also for another workspace's id)."""
    try:
        return Agent.objects.for_workspace(workspace_id).get(pk=uuid.UUID(str(agent_id)))
    except (ValueError, Agent.DoesNotExist):
        raise ApiError(404, "agent_not_found", f"No agent with id {str(agent_id)!r}.") from None


# --- what a customer sends ----------------------------------------------------------------------


@dataclass(frozen=True)
class AgentFields:
    """The checked fields of a create (all of them, defaults filled) or an update (those sent)."""

    values: dict[str, Any]


def check_fields(body: dict[str, Any], principal: Principal, *, partial: bool) -> AgentFields:
    """Every field checked, each fault naming its path (400); the model resolved against the
    plan and the key (404 model_not_found, 403 model_not_allowed, 400 not a chat model)."""
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise fault(unknown[0], f"unknown field; an agent has {', '.join(FIELDS)}")
    if found := json_fault(body, "", MAX_DEPTH + 1):
        raise fault(*found)
    values: dict[str, Any] = {}
    if not partial or "name" in body:
        values["name"] = check_name(body.get("name"))
    if not partial or "model" in body:
        values["model"] = check_model(body.get("model"), principal)
    if not partial or "description" in body:
        values["description"] = check_text(
            body.get("description", ""), "description", MAX_DESCRIPTION
        )
    if not partial or "systemPrompt" in body:
        values["system_prompt"] = check_text(
            body.get("systemPrompt", ""), "systemPrompt", MAX_SYSTEM_PROMPT
        )
    if not partial or "parameters" in body:
        values["parameters"] = check_parameters(body.get("parameters") or {})
    if not partial or "tools" in body:
        values["tools"] = check_agent_tools(body.get("tools") or [])
    return AgentFields(values)


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fault("name", f"expected a non-empty string, got {type_name(value)}")
    if not NAME.fullmatch(value):
        raise fault(
            "name",
            "1-64 letters, digits, '_', '-' or '.', starting with a letter or digit "
            f'(it is called as model "agent:<name>"), got {json.dumps(value)}',
        )
    return value


def check_text(value: Any, path: str, most: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fault(path, f"expected a string, got {type_name(value)}")
    if len(value) > most:
        raise fault(path, f"at most {most:,} characters, got {len(value):,}")
    return value


def check_model(value: Any, principal: Principal) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fault("model", f"expected a model name, got {type_name(value)}")
    if value.startswith(PREFIX):
        raise fault("model", "an agent cannot call another agent; name a model")
    resolve_model(value, principal, "chat")
    return value


def check_parameters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fault("parameters", f"expected an object, got {type_name(value)}")
    for name in value:
        if name not in PARAMETERS:
            raise fault(
                f"parameters.{name}", f"unknown parameter; expected {', '.join(PARAMETERS)}"
            )
    try:
        check_sampling(value)
    except ApiError as error:
        raise fault(f"parameters.{error.param}", error.message.split(": ", 1)[-1]) from None
    return {k: v for k, v in value.items() if v is not None}


def check_agent_tools(value: Any) -> list[dict[str, Any]]:
    """OpenAI function tools: type "function", a valid name, and parameters that are a JSON
    Schema (checked as one: a misspelt type is a 400 naming where it is)."""
    if not isinstance(value, list):
        raise fault("tools", f"expected an array, got {type_name(value)}")
    if len(value) > MAX_TOOLS:
        raise fault("tools", f"at most {MAX_TOOLS} tools, got {len(value)}")
    for index, tool in enumerate(value):
        path = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise fault(path, f"expected an object, got {type_name(tool)}")
        if tool.get("type", "function") != "function":
            raise fault(f"{path}.type", 'expected "function"')
    check_tools({"tools": value})
    names: set[str] = set()
    for index, tool in enumerate(value):
        function, path = tool["function"], f"tools[{index}].function"
        if not TOOL_NAME.fullmatch(function["name"]):
            raise fault(f"{path}.name", "1-64 letters, digits, '_' or '-'")
        if function["name"] in names:
            raise fault(f"{path}.name", f"{function['name']!r} is defined twice")
        names.add(function["name"])
        if not isinstance(function.get("description", ""), str):
            raise fault(f"{path}.description", "expected a string")
        if function.get("parameters") is not None:
            check_json_schema(function["parameters"], f"{path}.parameters")
    return [
        {**tool, "type": "function", "function": without_null_parameters(tool)} for tool in value
    ]


def without_null_parameters(tool: dict[str, Any]) -> dict[str, Any]:
    """`"parameters": null` means none, as when it is left out (the answer never shows null)."""
    function = tool["function"]
    return {k: v for k, v in function.items() if k != "parameters" or v is not None}


def check_json_schema(schema: dict[str, Any], path: str) -> None:
    if schema.get("type", "object") != "object":
        raise fault(f"{path}.type", 'a function\'s parameters are an object schema: "object"')
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise fault(f"{path}{where}", f"not a valid JSON Schema: {error.message}") from None


# --- storing ------------------------------------------------------------------------------------


def create_agent(workspace_id: str, fields: AgentFields, created_by: Any = None) -> Agent:
    agent = Agent(workspace_id=workspace_id, created_by=created_by, **fields.values)
    return save(agent)


def update_agent(agent: Agent, fields: AgentFields) -> Agent:
    for name, value in fields.values.items():
        setattr(agent, name, value)
    agent.updated_at = timezone.now()
    return save(agent)


def save(agent: Agent) -> Agent:
    """Insert or update; a name the workspace already uses is 409 agent_name_taken."""
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise ApiError(
            409,
            "agent_name_taken",
            f"This workspace already has an agent named {agent.name!r}.",
            param="name",
        ) from None
    return agent


# --- calling ------------------------------------------------------------------------------------


def is_reference(model: Any) -> bool:
    return isinstance(model, str) and model.startswith(PREFIX)


def by_reference(reference: str, principal: Principal) -> Agent:
    """`agent:<name>` → the key's workspace's agent; 403 without the chat_agent scope, 404
    agent_not_found for a name the workspace does not have."""
    require_scope(principal)
    name = reference[len(PREFIX) :]
    agent = Agent.objects.for_workspace(principal.workspace_id).filter(name=name).first()
    if agent is None:
        raise ApiError(
            404,
            "agent_not_found",
            f"No agent named {name!r} in this workspace. GET /api/v1/agents lists them.",
            param="model",
        )
    return agent


def require_scope(principal: Principal) -> None:
    if SCOPE not in principal.scopes:
        raise insufficient_scope(
            principal,
            SCOPE,
            f"Calling an agent needs an API key with the '{SCOPE}' scope.",
            param="model",
        )


def applied(agent: Agent, body: dict[str, Any]) -> dict[str, Any]:
    """The canonical chat request for a call to `agent`: its model; its system prompt first (a
    request that brings its own system prompt is refused: the agent's is not to be replaced);
    its parameters and tools wherever the request does not set its own."""
    messages = body.get("messages") or []
    if agent.system_prompt:
        for index, message in enumerate(messages):
            if isinstance(message, dict) and message.get("role") in SYSTEM_ROLES:
                raise fault(
                    f"messages[{index}].role",
                    f"the agent {agent.name!r} has its own system prompt, which a request cannot "
                    "replace; send user, assistant and tool messages",
                )
        messages = [{"role": "system", "content": agent.system_prompt}, *messages]
    defaults = dict(agent.parameters)
    if body.get("max_completion_tokens") is not None:
        defaults.pop("max_tokens", None)  # the request's own bound, by its newer name
    # A dialect's private notes (`_…`: the client's native request) no longer describe this
    # request: the provider translates the canonical one.
    sent = {k: v for k, v in body.items() if v is not None and not k.startswith("_")}
    request = {**defaults, **sent}
    if agent.tools and "tools" not in body:
        request["tools"] = agent.tools
    request.update(model=agent.model, messages=messages)
    return request


def expand(body: dict[str, Any], principal: Principal) -> tuple[dict[str, Any], str | None]:
    """A chat request naming `agent:<name>` as its model becomes that agent's request, with the
    name the client called; any other request is left as it is."""
    if not is_reference(body.get("model")):
        return body, None
    agent = by_reference(body["model"], principal)
    return applied(agent, body), agent.reference
