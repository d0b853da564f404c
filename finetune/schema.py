"""OpenAPI components of the fine-tuning API (documentation only; the views validate)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from proxy import schema
from proxy.errors import ApiError

METHOD_HELP = (
    '"modelfile" (default, CPU): compiles the dataset into an Ollama model definition: the base '
    "model, the dataset's system prompt, and few-shot example conversations chosen to fit a "
    "quarter of the base model's context window. This is conditioning, not weight training: "
    'the base weights are unchanged, and epochs/learningRate do not apply. "lora": weight '
    "training of a LoRA adapter (PyTorch, transformers, peft) on a training worker, registered "
    "in Ollama as an adapter of the base model; the base model needs trainable weights on the "
    "training hosts (else 400 naming baseModel). On a deployment without a lora trainer, "
    "starting it fails with 501 method_unavailable."
)


def _hyper(name: str, field: type = serializers.IntegerField) -> serializers.Field:
    from .hyperparameters import LORA

    spec = LORA[name]
    return field(
        required=False,
        min_value=spec.low,
        max_value=spec.high,
        help_text=f"lora only: {spec.help}; {spec.describe().removeprefix('expected ')}, "
        f"default {spec.default}",
    )


def offered_methods(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: a job's `method` offers only the methods this deployment has a
    trainer for (`lora` only where one is configured)."""
    from .trainers import trainer_configured

    offered = [m for m in ("modelfile", "lora") if trainer_configured(m)]
    job = result.get("components", {}).get("schemas", {}).get("JobCreateRequest", {})
    method = job.get("properties", {}).get("method")
    if method is not None:
        description = method.get("description", "").split("\n\n* ", 1)[0]
        job["properties"]["method"] = {
            "type": "string",
            "enum": offered,
            "default": "modelfile",
            "description": description,
        }
    return result


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
        required=False, max_value=1, help_text="above 0, at most 1; for lora only (default 2e-4)"
    )
    suffix = serializers.CharField(
        required=False, max_length=40, help_text="used in the default modelName"
    )
    loraRank = _hyper("loraRank")
    loraAlpha = _hyper("loraAlpha")
    loraDropout = _hyper("loraDropout", serializers.FloatField)
    maxSeqLength = _hyper("maxSeqLength")
    batchSize = _hyper("batchSize")
    validationSplit = _hyper("validationSplit", serializers.FloatField)
    validationDatasetId = serializers.UUIDField(
        required=False,
        help_text="lora only: a second dataset of yours for the eval loss, instead of a split",
    )
    seed = _hyper("seed")


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
    adapter = serializers.DictField(
        required=False,
        help_text="lora: the adapter's files (adapter_model.safetensors, adapter_config.json), "
        "each {sha256, bytes}",
    )
    trainLossFirst = serializers.FloatField(required=False, help_text="lora: the first step's")
    trainLossLast = serializers.FloatField(required=False, help_text="lora: the last step's")
    evalLoss = serializers.FloatField(
        required=False, allow_null=True, help_text="lora: after the last epoch"
    )
    tokensPerSecond = serializers.FloatField(required=False, help_text="lora: the whole run's")


class MetricEntry(serializers.Serializer):
    event = serializers.ChoiceField(["step", "epoch"])
    step = serializers.IntegerField()
    epoch = serializers.IntegerField()
    totalSteps = serializers.IntegerField(required=False)
    trainLoss = serializers.FloatField(required=False)
    evalLoss = serializers.FloatField(required=False, allow_null=True)
    learningRate = serializers.FloatField(required=False)
    tokensPerSecond = serializers.FloatField(required=False)
    etaSeconds = serializers.FloatField(required=False)
    time = serializers.DateTimeField()


class Checkpoint(serializers.Serializer):
    epoch = serializers.IntegerField()
    step = serializers.IntegerField()


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
    hyperparameters = serializers.DictField(
        help_text="lora: the resolved hyper-parameters (defaults filled in); {} for modelfile"
    )
    result = JobResult(allow_null=True)
    metrics = MetricEntry(
        many=True, help_text="lora: step entries (losses, learning rate, tokens/s, ETA), epochs"
    )
    checkpoint = Checkpoint(
        allow_null=True, help_text="lora: the last epoch saved (a failed job resumes after it)"
    )
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
    data = serializers.DictField(
        required=False, help_text="a structured entry's fields (lora: event, step, losses, …)"
    )


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


def _errors() -> dict[str, ApiError]:
    from .datasets import DatasetInvalid, too_many_bytes  # real renderings of the dataset errors

    return schema.catalogue(
        ApiError(
            400, "invalid_request_error", "limit: expected an integer from 1 to 200", param="limit"
        ),
        DatasetInvalid(
            [
                "record 1: messages: the conversation must end with an assistant message",
                "record 2: prompt: expected a string, got integer",
            ],
            2,
        ),
        ApiError(
            400,
            "base_model_not_trainable",
            "baseModel: 'nomic-embed-text' is not a chat model served by an Ollama upstream; "
            "fine-tunes are registered in Ollama.",
            param="baseModel",
        ),
        ApiError(
            400,
            "invalid_model_name",
            "modelName: expected `name` or `name:tag`, each 1-80 letters, digits, '_', '-' or "
            "'.', starting with a letter, digit or '_'.",
            param="modelName",
        ),
        schema.ERRORS["invalid_api_key"],
        schema.missing_scope("chat_agent_train"),
        schema.ERRORS["no_active_subscription"],
        ApiError(
            403,
            "model_not_allowed",
            "Your plan or API key does not allow the model 'llama3.1:70b'.",
            param="baseModel",
        ),
        ApiError(404, "dataset_not_found", f"No dataset with id {DATASET_ID!r}."),
        ApiError(404, "job_not_found", f"No job with id {JOB_ID!r}."),
        ApiError(
            404,
            "model_not_found",
            "The model 'llama9' does not exist. GET /v1/models lists the models you can use.",
            param="baseModel",
        ),
        ApiError(
            409,
            "dataset_in_use",
            f"Fine-tune jobs use this dataset; delete them first ({JOB_ID}).",
        ),
        ApiError(
            400,
            "training_too_large",
            "epochs: the dataset's 9,000,000 tokens × 3 epoch(s) = 27,000,000 trained tokens, "
            "over your plan's limit of 20,000,000.",
            param="epochs",
        ),
        ApiError(409, "job_already_started", "The job is already running."),
        ApiError(
            409,
            "job_not_resumable",
            "Only a failed job with a checkpoint can be resumed; this one is succeeded.",
        ),
        ApiError(
            429,
            "training_jobs_limit",
            "Your plan runs 1 lora job(s) at a time and 1 are queued or running; start this one "
            "when one has finished.",
            type="rate_limit_error",
        ),
        ApiError(409, "job_not_cancellable", "The job has already succeeded."),
        ApiError(409, "job_active", "The job is running; cancel it before deleting it."),
        ApiError(
            409, "job_not_succeeded", "Only a succeeded job can be registered; this one is running."
        ),
        ApiError(409, "job_already_registered", "The job is already registered as 'support-bot'."),
        ApiError(
            409,
            "model_name_taken",
            "modelName: a model named 'support-bot' already exists.",
            param="modelName",
        ),
        ApiError(
            409,
            "base_model_unavailable",
            "The base model 'llama3.2' is no longer served by an Ollama upstream.",
        ),
        too_many_bytes(),
        ApiError(
            415,
            "unsupported_media_type",
            "Send the dataset as application/json ({title, records} or {title, jsonl}) or as a "
            "multipart/form-data upload (title, file).",
        ),
        schema.ERRORS["rate_limit_exceeded"],
        ApiError(
            501,
            "method_unavailable",
            "The 'lora' method needs a trainer this deployment does not have (LoRA needs a GPU "
            'worker); create the job with method "modelfile", or ask your operator.',
            type="invalid_request_error",
        ),
        ApiError(
            502,
            "upstream_error",
            "Ollama (ollama) could not create the model: HTTP 500: model is required",
        ),
        ApiError(
            503,
            "limits_unavailable",
            "The gateway cannot check your plan's limits right now; retry shortly.",
            headers={"Retry-After": "5"},
        ),
        ApiError(
            503,
            "queue_unavailable",
            "The job could not be queued (the task queue is unreachable); it is still pending. "
            "Start it again shortly.",
            headers={"Retry-After": "5"},
        ),
    )


DATASET_ID = "20b90dd6-9284-4eba-9775-270a6fa47e52"
JOB_ID = "f89dcd7a-35f8-4ce8-ba15-f1e4b9b80917"
ERRORS = _errors()
BAD_TITLE = ApiError(
    400, "invalid_request_error", "title: expected a non-empty string, got null", param="title"
)
BAD_JOB = ApiError(
    400, "invalid_request_error", "epochs: expected an integer from 1 to 20", param="epochs"
)
BAD_AFTER = ApiError(
    400,
    "invalid_request_error",
    "after: expected a line id (a non-negative integer)",
    param="after",
)
AUTH = ("invalid_api_key", "insufficient_scope", "no_active_subscription")


def errors(*items: int | str | ApiError) -> dict:
    """proxy.schema.error_responses with the fine-tuning API's errors (codes or statuses) and
    the errors every one of its endpoints may answer (AUTH)."""
    return schema.error_responses(*AUTH, *items, known=ERRORS)


DATASET_EXAMPLES = [
    OpenApiExample(
        "chat records",
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
        value={
            "title": "Instructions",
            "jsonl": '{"instruction": "Greet", "output": "Hello!"}\n',
        },
    ),
]

DATASET = {
    "id": DATASET_ID,
    "object": "finetune.dataset",
    "title": "Support tone",
    "records": 2,
    "estimatedTokens": 44,
    "bytes": 324,
    "createdAt": "2026-01-15T09:30:04.805438Z",
}
DATASET_LIST = {"object": "list", "data": [DATASET], "has_more": False}
JOB_REQUEST = {"datasetId": DATASET_ID, "baseModel": "llama3.2", "suffix": "support"}
JOB = {
    "id": JOB_ID,
    "object": "finetune.job",
    "datasetId": DATASET_ID,
    "baseModel": "llama3.2",
    "method": "modelfile",
    "epochs": 3,
    "learningRate": None,
    "suffix": "support",
    "state": "pending",
    "progress": 0,
    "error": None,
    "hyperparameters": {},
    "result": None,
    "metrics": [],
    "checkpoint": None,
    "modelName": None,
    "createdAt": "2026-01-15T09:31:04.855115Z",
    "queuedAt": None,
    "startedAt": None,
    "finishedAt": None,
}
QUEUED_JOB = {**JOB, "state": "queued", "queuedAt": "2026-01-15T09:31:10.869451Z"}
CANCELLED_JOB = {**JOB, "state": "cancelled", "finishedAt": "2026-01-15T09:31:12.985800Z"}
SUCCEEDED_JOB = {
    **QUEUED_JOB,
    "state": "succeeded",
    "progress": 100,
    "result": {
        "examples": 2,
        "exampleTokens": 35,
        "hasSystemPrompt": True,
        "parameters": {"num_ctx": 9216},
        "contextWindow": 9175,
    },
    "startedAt": "2026-01-15T09:31:10.879248Z",
    "finishedAt": "2026-01-15T09:31:10.887956Z",
}
LORA_HYPERPARAMETERS = {
    "loraRank": 16,
    "loraAlpha": 32,
    "loraDropout": 0.05,
    "maxSeqLength": 1024,
    "batchSize": 8,
    "validationSplit": 0.1,
    "seed": 42,
}
RESUMED_JOB = {
    **QUEUED_JOB,
    "method": "lora",
    "learningRate": 0.0002,
    "hyperparameters": LORA_HYPERPARAMETERS,
    "metrics": [
        {
            "event": "step",
            "step": 1,
            "totalSteps": 12,
            "epoch": 1,
            "trainLoss": 2.41,
            "learningRate": 0.0002,
            "tokensPerSecond": 1850.0,
            "stepSeconds": 0.9,
            "etaSeconds": 10.0,
            "time": "2026-01-15T09:31:12.000000Z",
        },
        {
            "event": "epoch",
            "epoch": 1,
            "step": 4,
            "evalLoss": 1.92,
            "time": "2026-01-15T09:31:15.000000Z",
        },
    ],
    "checkpoint": {"epoch": 1, "step": 4},
}
JOB_LIST = {"object": "list", "data": [SUCCEEDED_JOB], "has_more": False}
JOB_LOG = {
    "object": "list",
    "data": [
        {
            "id": 1,
            "time": "2026-01-15T09:31:10.870023Z",
            "level": "info",
            "message": "Queued on 'default'.",
        },
        {
            "id": 2,
            "time": "2026-01-15T09:31:10.881547Z",
            "level": "info",
            "message": "Started on a worker: modelfile from llama3.2, dataset 'Support tone'.",
        },
        {
            "id": 6,
            "time": "2026-01-15T09:31:10.886567Z",
            "level": "info",
            "message": "Selected 2 of 2 examples, 35 tokens.",
        },
        {
            "id": 8,
            "time": "2026-01-15T09:31:10.888541Z",
            "level": "info",
            "message": "Succeeded: register the result with POST "
            "/api/v1/finetune/jobs/{id}/register.",
        },
    ],
    "last": 8,
    "state": "succeeded",
}
REGISTER_REQUEST = {"modelName": "support-bot"}
REGISTERED_MODEL = {
    "object": "model",
    "id": "support-bot",
    "modelName": "support-bot",
    "baseModel": "llama3.2",
    "jobId": JOB_ID,
    "owned_by": "workspace",
    "context_window": 9175,
}
