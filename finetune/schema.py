"""OpenAPI components of the fine-tuning API (documentation only; the views validate)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from proxy.schema import OpenAIError

METHOD_HELP = (
    '"modelfile" (default, CPU): compiles the dataset into an Ollama model definition: the base '
    "model, the dataset's system prompt, and few-shot example conversations chosen to fit a "
    "quarter of the base model's context window. This is conditioning, not weight training: "
    'the base weights are unchanged, and epochs/learningRate do not apply. "lora": weight '
    "training on a GPU worker; on a deployment without a GPU trainer, starting it fails with "
    "501 method_unavailable."
)


class DatasetCreate(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    records = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text='Records: {"messages": [...]}, {"prompt", "completion"} or '
        '{"instruction", "input"?, "output"}; each may carry "system". All are normalised to '
        "chat conversations (optional system, then user/assistant turns ending with assistant).",
    )
    jsonl = serializers.CharField(
        required=False, help_text="The same records as JSON Lines, instead of `records`."
    )


class DatasetUpload(serializers.Serializer):
    title = serializers.CharField(required=False, help_text="default: the file's name")
    file = serializers.FileField(help_text="a .jsonl file, one record per line")


class DatasetObject(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.CharField(default="finetune.dataset")
    title = serializers.CharField()
    records = serializers.IntegerField()
    estimatedTokens = serializers.IntegerField()
    bytes = serializers.IntegerField(help_text="size of the stored, normalised JSONL")
    createdAt = serializers.DateTimeField()


class DatasetList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = DatasetObject(many=True)
    has_more = serializers.BooleanField()


class JobCreate(serializers.Serializer):
    datasetId = serializers.UUIDField()
    baseModel = serializers.CharField(
        help_text="A chat model your key may call that an Ollama upstream serves (e.g. llama3.2, "
        "or local/<name> on your own Ollama)."
    )
    epochs = serializers.IntegerField(min_value=1, max_value=20, default=3, required=False)
    method = serializers.ChoiceField(
        ["modelfile", "lora"], default="modelfile", required=False, help_text=METHOD_HELP
    )
    learningRate = serializers.FloatField(
        required=False, max_value=1, help_text="above 0, at most 1; for lora only"
    )
    suffix = serializers.CharField(
        required=False, max_length=40, help_text="used in the default modelName"
    )


class JobError(serializers.Serializer):
    code = serializers.CharField(help_text="method_unavailable, worker_lost, trainer_error, …")
    message = serializers.CharField()


class JobResult(serializers.Serializer):
    examples = serializers.IntegerField(help_text="few-shot examples selected")
    exampleTokens = serializers.IntegerField()
    hasSystemPrompt = serializers.BooleanField()
    parameters = serializers.DictField()
    contextWindow = serializers.IntegerField(
        help_text="tokens left for a chat with the registered model (num_ctx less the examples)"
    )


class JobObject(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.CharField(default="finetune.job")
    datasetId = serializers.UUIDField()
    baseModel = serializers.CharField()
    method = serializers.ChoiceField(["modelfile", "lora"])
    epochs = serializers.IntegerField()
    learningRate = serializers.FloatField(allow_null=True)
    suffix = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(
        ["pending", "queued", "running", "succeeded", "failed", "cancelled"],
        help_text="pending → queued (start) → running → succeeded | failed | cancelled",
    )
    progress = serializers.IntegerField(min_value=0, max_value=100)
    error = JobError(allow_null=True)
    result = JobResult(allow_null=True)
    modelName = serializers.CharField(
        allow_null=True, help_text="the registered model's name, once registration succeeded"
    )
    createdAt = serializers.DateTimeField()
    queuedAt = serializers.DateTimeField(allow_null=True)
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)


class JobList(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = JobObject(many=True)
    has_more = serializers.BooleanField()


class LogLineObject(serializers.Serializer):
    id = serializers.IntegerField(help_text="pass the last one as ?after= to poll for new lines")
    time = serializers.DateTimeField()
    level = serializers.ChoiceField(["info", "warning", "error"])
    message = serializers.CharField()


class JobLog(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = LogLineObject(many=True)
    last = serializers.IntegerField(help_text="the id to pass as ?after= next time")
    state = serializers.CharField()


class JobRegister(serializers.Serializer):
    modelName = serializers.CharField(
        required=False,
        help_text="Ollama's naming rules: name or name:tag, letters, digits, _ - . (default: "
        "<baseModel>-<suffix or job id>). Unique in your workspace; then use it as `model`.",
    )


class RegisteredModel(serializers.Serializer):
    object = serializers.CharField(default="model")
    id = serializers.CharField()
    modelName = serializers.CharField()
    baseModel = serializers.CharField()
    jobId = serializers.UUIDField()
    owned_by = serializers.CharField(default="workspace")
    context_window = serializers.IntegerField(help_text="tokens left for the conversation")


MEANING = {
    400: "invalid_request_error or invalid_dataset (error.details lists every fault with its "
    "line), invalid_model_name, base_model_not_trainable",
    401: "invalid_api_key",
    403: "insufficient_scope (chat_agent_train), model_not_allowed",
    404: "dataset_not_found, job_not_found, model_not_found",
    409: "dataset_in_use, job_already_started, job_not_cancellable, job_active, "
    "job_not_succeeded, job_already_registered, model_name_taken, base_model_unavailable",
    413: "dataset_too_large (bytes or records)",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded (Retry-After)",
    503: "limits_unavailable or queue_unavailable (Retry-After): nothing was charged",
    501: "method_unavailable (no trainer for this method here; the job is failed)",
    502: "upstream_error (Ollama refused to create the model; nothing was registered)",
}


def errors(*statuses: int) -> dict:
    return {s: OpenApiResponse(OpenAIError, description=MEANING.get(s, "")) for s in statuses}


DATASET_EXAMPLES = [
    OpenApiExample(
        "chat records",
        request_only=True,
        media_type="application/json",
        value={
            "title": "Support tone",
            "records": [
                {
                    "messages": [
                        {"role": "system", "content": "You answer as Acme support."},
                        {"role": "user", "content": "My order is late."},
                        {"role": "assistant", "content": "Sorry about that! Let me check."},
                    ]
                },
                {"prompt": "Refund policy?", "completion": "30 days, no questions asked."},
            ],
        },
    ),
    OpenApiExample(
        "JSON Lines",
        request_only=True,
        media_type="application/json",
        value={
            "title": "Instructions",
            "jsonl": '{"instruction": "Greet", "output": "Hello!"}\n',
        },
    ),
]
