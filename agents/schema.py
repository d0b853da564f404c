"""OpenAPI components of the agents API (documentation only; agents.services validates)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from proxy.schema import ChatMessage, OpenAIError


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


MEANING = {
    400: "invalid_request_error: the message and `param` name the field",
    401: "invalid_api_key",
    403: "insufficient_scope (chat_agent), model_not_allowed",
    404: "agent_not_found, model_not_found",
    409: "agent_name_taken",
    413: "request_too_large",
    429: "rate_limit_exceeded (Retry-After)",
    503: "upstream_unavailable, limits_unavailable (Retry-After)",
    504: "upstream_timeout",
}


def errors(*statuses: int) -> dict:
    return {s: OpenApiResponse(OpenAIError, description=MEANING[s]) for s in statuses}
