"""OpenAPI components of the agents API (documentation only; agents.services validates)."""

from __future__ import annotations

import json

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from proxy import schema
from proxy.errors import ApiError
from proxy.schema import ChatMessage


class FunctionDefinition(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$")
    description = serializers.CharField(required=False)
    parameters = serializers.DictField(
        required=False, help_text='A JSON Schema of type "object" for the arguments'
    )


class Tool(serializers.Serializer):
    type = serializers.ChoiceField(["function"], default="function")
    function = FunctionDefinition()


class AgentParameters(serializers.Serializer):
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False, help_text="A string or up to 4 strings")
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    seed = serializers.IntegerField(required=False)


class AgentCreate(serializers.Serializer):
    name = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        help_text='Unique in the workspace; OpenAI clients call the agent as model "agent:<name>"',
    )
    description = serializers.CharField(required=False, max_length=1000)
    model = serializers.CharField(
        help_text="A chat model the workspace may call (GET /api/v1/models), fine-tunes included"
    )
    systemPrompt = serializers.CharField(
        required=False, max_length=100_000, help_text="Always first; a call cannot replace it"
    )
    parameters = AgentParameters(required=False, help_text="Defaults a call may override")
    tools = Tool(many=True, required=False, help_text="Used when a call sends no tools")


class AgentUpdate(AgentCreate):
    """PATCH: any subset of the fields."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AgentObject(AgentCreate):
    id = serializers.UUIDField()
    object = serializers.CharField(default="agent")
    reference = serializers.CharField(help_text='"agent:<name>", the model name that calls it')
    createdBy = serializers.EmailField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class AgentList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = AgentObject(many=True)
    has_more = serializers.BooleanField()


class AgentChatRequest(serializers.Serializer):
    messages = ChatMessage(many=True, help_text="user, assistant and tool turns")
    stream = serializers.BooleanField(required=False, default=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False)
    tools = Tool(many=True, required=False, help_text="Replaces the agent's tools for this call")
    tool_choice = serializers.JSONField(required=False)


# --- errors -------------------------------------------------------------------------------------

AGENT_NOT_FOUND = ApiError(
    404, "agent_not_found", "No agent with id 'b3a8d6f2-5c1e-4f7a-9d2b-0e6c4a1f8e21'."
)
AGENT_NAME_NOT_FOUND = ApiError(
    404,
    "agent_not_found",
    "No agent named 'support' in this workspace. GET /api/v1/agents lists them.",
    param="model",
)
AGENT_SCOPE = ApiError(
    403,
    "insufficient_scope",
    "Calling an agent needs an API key with the 'chat_agent' scope.",
    param="model",
)
BAD_TOOL = ApiError(
    400,
    "invalid_request_error",
    "tools[0].function.parameters.properties.id.type: not a valid JSON Schema: 'strin' is not "
    "valid under any of the given schemas",
    param="tools[0].function.parameters.properties.id.type",
)
SYSTEM_REPLACED = ApiError(
    400,
    "invalid_request_error",
    "messages[0].role: the agent 'support' has its own system prompt, which a request cannot "
    "replace; send user, assistant and tool messages",
    param="messages[0].role",
)
# What naming `agent:<name>` as the model adds to a chat endpoint's errors.
CALL_ERRORS = (AGENT_NAME_NOT_FOUND, AGENT_SCOPE, SYSTEM_REPLACED)
ERRORS = schema.catalogue(
    *schema.ERRORS.values(),
    schema.missing_scope("chat_agent"),
    ApiError(
        409,
        "agent_name_taken",
        "This workspace already has an agent named 'support'.",
        param="name",
    ),
)
AUTH = ("invalid_api_key", "insufficient_scope", "no_active_subscription")


def errors(*items: int | str | ApiError) -> dict:
    """proxy.schema.error_responses with the agents API's errors and the errors every one of its
    endpoints may answer (AUTH)."""
    return schema.error_responses(*AUTH, *items, known=ERRORS)


# --- examples (as the API answered them in front of bench/fake_upstream) ------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "An order's status by its number",
        "parameters": {
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "required": ["id"],
        },
    },
}
AGENT_CREATE = {
    "name": "support",
    "description": "Answers Acme's customers",
    "model": "llama3.2",
    "systemPrompt": "You are Acme's support agent. Be brief.",
    "parameters": {"temperature": 0.2, "max_tokens": 300, "stop": ["END"]},
    "tools": [WEATHER_TOOL],
}
AGENT = {
    "id": "b3a8d6f2-5c1e-4f7a-9d2b-0e6c4a1f8e21",
    "object": "agent",
    "name": "support",
    "reference": "agent:support",
    "description": "Answers Acme's customers",
    "model": "llama3.2",
    "systemPrompt": "You are Acme's support agent. Be brief.",
    "parameters": {"temperature": 0.2, "max_tokens": 300, "stop": ["END"]},
    "tools": [WEATHER_TOOL],
    "createdBy": None,
    "createdAt": "2026-01-15T09:30:00.000000Z",
    "updatedAt": "2026-01-15T09:30:00.000000Z",
}
AGENT_LIST = {"object": "list", "data": [AGENT], "has_more": False}
AGENT_UPDATE = {"description": "Tier 1 support", "parameters": {"temperature": 0.5}}
AGENT_UPDATED = {
    **AGENT,
    "description": "Tier 1 support",
    "parameters": {"temperature": 0.5},
    "updatedAt": "2026-01-16T14:02:11.000000Z",
}
AGENT_CHAT = {"messages": [{"role": "user", "content": "Where is order 42?"}]}
AGENT_CHAT_STREAM = OpenApiExample(
    "streamed", value={**AGENT_CHAT, "stream": True, "temperature": 0.7}
)
AGENT_COMPLETION = {
    **schema.CHAT_COMPLETION,
    "model": "agent:support",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "It ships tomorrow."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 92, "completion_tokens": 5, "total_tokens": 97},
}
AGENT_EVENTS = schema.CHAT_EVENTS.replace(json.dumps("llama3.2"), json.dumps("agent:support"))
