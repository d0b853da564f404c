"""OpenAPI components shared by every endpoint."""

from __future__ import annotations

from rest_framework import serializers


class OpenAIErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField()
    details = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="every fault, when there are several (a dataset's lines)",
    )


class OpenAIError(serializers.Serializer):
    """The OpenAI error shape, used on every endpoint except the Anthropic ones."""

    error = OpenAIErrorDetail()


# --- chat ---------------------------------------------------------------------------------------


class ChatMessage(serializers.Serializer):
    role = serializers.ChoiceField(["system", "developer", "user", "assistant", "tool"])
    content = serializers.JSONField(
        help_text="A string, or an array of parts: {type: text, text} / {type: image_url, image_url: {url}}",
        allow_null=True,
    )
    name = serializers.CharField(required=False)
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)
    tool_call_id = serializers.CharField(required=False)


class ChatCompletionRequest(serializers.Serializer):
    model = serializers.CharField(help_text="A model name or alias from GET /v1/models")
    messages = ChatMessage(many=True)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False, help_text="A string or up to 4 strings")
    presence_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    frequency_penalty = serializers.FloatField(required=False, min_value=-2, max_value=2)
    seed = serializers.IntegerField(required=False)
    response_format = serializers.DictField(required=False)
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    tool_choice = serializers.JSONField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False)
    user = serializers.CharField(required=False, help_text="end user, kept in usage records")
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = serializers.DictField(required=False, help_text='{"include_usage": true}')


class Usage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatChoice(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChatMessage()
    finish_reason = serializers.CharField(allow_null=True)


class ChatCompletion(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="chat.completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChatChoice(many=True)
    usage = Usage()


class CompletionRequest(serializers.Serializer):
    model = serializers.CharField()
    prompt = serializers.JSONField(help_text="A string or an array of strings")
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    stop = serializers.JSONField(required=False)
    stream = serializers.BooleanField(required=False, default=False)


class CompletionChoice(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()
    finish_reason = serializers.CharField(allow_null=True)


class Completion(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="text_completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = CompletionChoice(many=True)
    usage = Usage()


class EmbeddingRequest(serializers.Serializer):
    model = serializers.CharField()
    input = serializers.JSONField(help_text="A string or an array of strings")
    dimensions = serializers.IntegerField(required=False, min_value=1)


class Embedding(serializers.Serializer):
    object = serializers.CharField(default="embedding")
    index = serializers.IntegerField()
    embedding = serializers.ListField(child=serializers.FloatField())


class EmbeddingList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = Embedding(many=True)
    model = serializers.CharField()
    usage = serializers.DictField()


class GenerateRequest(serializers.Serializer):
    model = serializers.CharField()
    prompt = serializers.CharField()
    system = serializers.CharField(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)


class Generation(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="text.generation")
    created = serializers.IntegerField()
    model = serializers.CharField()
    response = serializers.CharField()
    finish_reason = serializers.CharField(allow_null=True)
    usage = Usage()


class ModelObject(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="model")
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = ModelObject(many=True)


class RichModelObject(ModelObject):
    kind = serializers.ChoiceField(["chat", "embedding"])
    description = serializers.CharField()
    context_window = serializers.IntegerField()
    pricing = serializers.DictField(help_text="input_per_mtok, output_per_mtok (USD strings)")
    quota_weight = serializers.DictField(help_text="request-quota units per call: offpeak, peak")
    capabilities = serializers.ListField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())


class RichModelList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = RichModelObject(many=True)


# --- Anthropic Messages -------------------------------------------------------------------------


class AnthropicMessageParam(serializers.Serializer):
    role = serializers.ChoiceField(["user", "assistant"])
    content = serializers.JSONField(
        help_text="A string, or content blocks: text, image (base64 or url source), document, "
        "tool_use, tool_result, thinking, redacted_thinking"
    )


class AnthropicCountTokensRequest(serializers.Serializer):
    model = serializers.CharField(
        help_text="A model name, alias or glob-matched Anthropic name (claude-sonnet-4-…); an "
        "unknown name is served by the catalog's default_model"
    )
    messages = AnthropicMessageParam(many=True)
    system = serializers.JSONField(
        required=False, help_text="A string or an array of text blocks (cache_control accepted)"
    )
    tools = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="{name, description, input_schema}"
    )
    tool_choice = serializers.DictField(
        required=False, help_text='{"type": "auto" | "any" | "tool" | "none", "name"?}'
    )
    thinking = serializers.DictField(
        required=False, help_text='{"type": "enabled", "budget_tokens": N}'
    )


class AnthropicMessagesRequest(AnthropicCountTokensRequest):
    max_tokens = serializers.IntegerField(min_value=1)
    stop_sequences = serializers.ListField(child=serializers.CharField(), required=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=1)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    top_k = serializers.IntegerField(required=False, min_value=0)
    metadata = serializers.DictField(
        required=False, help_text="user_id: the end user, kept in usage records"
    )
    stream = serializers.BooleanField(required=False, default=False)


class AnthropicUsage(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_creation_input_tokens = serializers.IntegerField()
    cache_read_input_tokens = serializers.IntegerField()


class AnthropicMessage(serializers.Serializer):
    id = serializers.CharField(help_text="msg_…")
    type = serializers.CharField(default="message")
    role = serializers.CharField(default="assistant")
    model = serializers.CharField(help_text="the name the client sent")
    content = serializers.ListField(
        child=serializers.DictField(), help_text="text, thinking and tool_use blocks"
    )
    stop_reason = serializers.ChoiceField(["end_turn", "max_tokens", "stop_sequence", "tool_use"])
    stop_sequence = serializers.CharField(allow_null=True)
    usage = AnthropicUsage()


class AnthropicTokenCount(serializers.Serializer):
    input_tokens = serializers.IntegerField()


class AnthropicErrorDetail(serializers.Serializer):
    type = serializers.CharField(help_text="authentication_error, rate_limit_error, …")
    message = serializers.CharField()


class AnthropicError(serializers.Serializer):
    """Anthropic's error shape, used on /v1/messages and /v1/messages/count_tokens."""

    type = serializers.CharField(default="error")
    error = AnthropicErrorDetail()


ANTHROPIC_SSE_DESCRIPTION = (
    "With stream: true, Anthropic's server-sent events: message_start, content_block_start, ping, "
    "content_block_delta (text_delta, input_json_delta, thinking_delta), content_block_stop, "
    "message_delta (stop_reason, usage), message_stop. An error after the stream started "
    "arrives as a final `event: error`."
)


def error_responses(*statuses: int, shape: type[serializers.Serializer] = OpenAIError) -> dict:
    from drf_spectacular.utils import OpenApiResponse

    meaning = {
        400: "invalid_request_error (the message names the field)",
        401: "invalid_api_key",
        403: "insufficient_scope, no_active_subscription, model_not_allowed or tier_not_allowed",
        404: "model_not_found",
        413: "request_too_large",
        429: "rate_limit_exceeded (Retry-After)",
        503: "upstream_unavailable (Retry-After)",
        504: "upstream_timeout",
    }
    return {s: OpenApiResponse(shape, description=meaning.get(s, "")) for s in statuses}


def anthropic_error_responses(*statuses: int) -> dict:
    return error_responses(*statuses, shape=AnthropicError)


SSE_DESCRIPTION = (
    "With stream: true, a text/event-stream of `data: {chat.completion.chunk}` lines ending with "
    "`data: [DONE]`; the usage chunk comes only with stream_options.include_usage. An error after "
    'the stream started arrives as a final `data: {"error": {...}}` event.'
)
