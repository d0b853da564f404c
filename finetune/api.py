"""The fine-tuning API (`/api/v1/finetune/…`, scope `chat_agent_train`): thin views over
finetune.services. Creating a dataset or a job, starting and registering cost the catalog's
`endpoint_credits` (seed 004), charged only when the call succeeds."""

from __future__ import annotations

import math
import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.utils import OpenApiParameter, extend_schema

from billing import metering
from config.safe_text import text_fault
from proxy.errors import ApiError
from proxy.pipeline import read_body, resolve_model, with_headers
from proxy.schema import body, ok
from proxy.validation import fault, parse_json_object, type_name
from proxy.views import GatewayView

from . import hyperparameters, schema, services
from .datasets import check_bytes, check_count, parse_jsonl, parse_records, too_many_bytes
from .models import Dataset, Job, Method

TAGS = ["fine-tuning"]
DIGITS = re.compile(r"[0-9]{1,18}")
SUFFIX = re.compile(r"[A-Za-z0-9_.-]{0,40}")  # part of the default model name: Ollama's characters
CONTENT_TYPES = ("application/json", "multipart/form-data")


def iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def dataset_object(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": str(dataset.pk),
        "object": "finetune.dataset",
        "title": dataset.title,
        "records": dataset.records,
        "estimatedTokens": dataset.estimated_tokens,
        "bytes": dataset.size_bytes,
        "createdAt": iso(dataset.created_at),
    }


def job_object(job: Job) -> dict[str, Any]:
    artifact = job.artifact or {}
    return {
        "id": str(job.pk),
        "object": "finetune.job",
        "datasetId": str(job.dataset_id),
        "baseModel": job.base_model,
        "method": job.method,
        "epochs": job.epochs,
        "learningRate": job.learning_rate,
        "suffix": job.suffix or None,
        "state": job.state,
        "progress": job.progress,
        "error": {"code": job.error_code, "message": job.error} if job.error_code else None,
        "hyperparameters": job.hyperparameters or {},
        "result": result_object(artifact) if job.artifact else None,
        "metrics": job.metrics or [],
        "checkpoint": {"epoch": job.checkpoint.get("epoch"), "step": job.checkpoint.get("step")}
        if job.checkpoint
        else None,
        "modelName": job.registered_model or None,
        "createdAt": iso(job.created_at),
        "queuedAt": iso(job.queued_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
    }


def result_object(artifact: dict[str, Any]) -> dict[str, Any]:
    result = {
        "examples": artifact.get("examples", 0),
        "exampleTokens": artifact.get("example_tokens", 0),
        "hasSystemPrompt": bool(artifact.get("system")),
        "parameters": artifact.get("parameters") or {},
        "contextWindow": artifact.get("context_window"),
    }
    if artifact.get("adapter"):
        result["adapter"] = {
            name: {"sha256": f["sha256"], "bytes": f["size"]}
            for name, f in artifact["adapter"].items()
        }
        for name in ("trainLossFirst", "trainLossLast", "evalLoss", "tokensPerSecond"):
            result[name] = artifact.get(name)
    return result


def page_limit(request: Any, default: int = 50, most: int = 200) -> int:
    raw = request.GET.get("limit", "")
    if not raw:
        return default
    if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= most:
        raise fault("limit", f"expected an integer from 1 to {most}")
    return int(raw)


def newest_first(request: Any, queryset: Any, render: Any) -> JsonResponse:
    """A list answer: the first `limit` objects (newest first), and whether there are more."""
    limit = page_limit(request)
    rows = list(queryset[: limit + 1])
    return JsonResponse(
        {"object": "list", "data": [render(r) for r in rows[:limit]], "has_more": len(rows) > limit}
    )


class TrainingView(GatewayView):
    """Scope `chat_agent_train`; the methods named in `charges` are admitted through the plan's
    limits and cost the credits of their endpoint name, settled when the response is ready."""

    required_scope = "chat_agent_train"
    charges: dict[str, str] = {}

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        self.endpoint = self.charges.get(request.method, "")
        super().initial(request, *args, **kwargs)
        if self.call is not None:
            self.call.dialect = "api"
            metering.admit(self.call, units_offpeak=0, units_peak=0)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        call = self.call
        if call is not None:
            if not call.settled:
                call.status = response.status_code
                metering.settle(call)
            if call.admission is not None:
                with_headers(response, call.admission.headers)
        return response

    @property
    def workspace_id(self) -> str:
        return self.request.auth.workspace_id

    def job(self, job_id: Any) -> Job:
        return services.owned(Job.objects, self.workspace_id, job_id, "job")


# --- datasets -----------------------------------------------------------------------------------


class DatasetsView(TrainingView):
    charges = {"POST": "dataset_create"}

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_datasets_list",
        parameters=[OpenApiParameter("limit", int, description="1-200, default 50")],
        responses={
            200: ok(schema.DatasetList, schema.DATASET_LIST),
            **schema.errors("invalid_request_error"),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        return newest_first(
            request, Dataset.objects.for_workspace(self.workspace_id), dataset_object
        )

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_datasets_create",
        request={
            "application/json": body(schema.DatasetCreate, *schema.DATASET_EXAMPLES),
            "multipart/form-data": schema.DatasetUpload,
        },
        responses={
            201: ok(schema.DatasetObject, schema.DATASET),
            **schema.errors(
                schema.BAD_TITLE,
                "invalid_dataset",
                "dataset_too_large",
                "unsupported_media_type",
                "rate_limit_exceeded",
                "limits_unavailable",
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        title, parse = self.dataset_input(request)
        dataset = services.create_dataset(self.workspace_id, title, parse())
        return JsonResponse(dataset_object(dataset), status=201)

    def dataset_input(self, request: Any) -> tuple[str, Any]:
        """(title, a function parsing the records) from a JSON body or a multipart upload; 413
        before anything is read when the body is over the dataset limit."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        check_bytes(length - 64 * 1024)  # room for the JSON or multipart envelope
        content_type = request.content_type or "application/json"
        if content_type.startswith("multipart/form-data"):
            return self.upload(request)
        if content_type != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                "Send the dataset as application/json ({title, records} or {title, jsonl}) or "
                "as a multipart/form-data upload (title, file).",
            )
        body = self.json_body(request)
        title = self.title(body.get("title"))
        if "records" in body and "jsonl" in body:
            raise fault("records", "send either records or jsonl, not both")
        if "records" in body:
            records = body["records"]
            if isinstance(records, list):
                check_count(len(records))
            return title, lambda: parse_records(records)
        jsonl = body.get("jsonl")
        if not isinstance(jsonl, str):
            raise fault("records", "expected records (an array) or jsonl (a string)")
        check_bytes(len(jsonl.encode()))
        return title, lambda: parse_jsonl(jsonl)

    def upload(self, request: Any) -> tuple[str, Any]:
        try:
            files, fields = request._request.FILES, request._request.POST
        except RequestDataTooBig as exc:
            raise too_many_bytes() from exc
        except (MultiPartParserError, TooManyFieldsSent, TooManyFilesSent) as exc:
            raise ApiError(
                400, "invalid_request_error", f"The multipart/form-data body is malformed: {exc}"
            ) from exc
        upload = files.get("file")
        if upload is None:
            raise fault("file", "attach the .jsonl file as the form field `file`")
        check_bytes(upload.size)
        title = fields.get("title") or upload.name.rsplit(".", 1)[0]
        data = upload.read()
        return self.title(title), lambda: parse_jsonl(data)

    @staticmethod
    def title(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise fault("title", f"expected a non-empty string, got {type_name(value)}")
        if len(value) > 200:
            raise fault("title", "at most 200 characters")
        if reason := text_fault(value):
            raise fault("title", reason)
        return value.strip()


class DatasetDetailView(TrainingView):
    @extend_schema(
        tags=TAGS,
        operation_id="finetune_datasets_retrieve",
        responses={
            200: ok(schema.DatasetObject, schema.DATASET),
            **schema.errors("dataset_not_found"),
        },
    )
    def get(self, request: Any, dataset_id: str) -> HttpResponse:
        dataset = services.owned(Dataset.objects, self.workspace_id, dataset_id, "dataset")
        return JsonResponse(dataset_object(dataset))

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_datasets_destroy",
        responses={204: None, **schema.errors("dataset_not_found", "dataset_in_use")},
    )
    def delete(self, request: Any, dataset_id: str) -> HttpResponse:
        dataset = services.owned(Dataset.objects, self.workspace_id, dataset_id, "dataset")
        services.delete_dataset(dataset)
        return HttpResponse(status=204)


# --- jobs ---------------------------------------------------------------------------------------


def job_spec(body: dict[str, Any], principal: Any) -> services.JobSpec:
    dataset_id = body.get("datasetId")
    if not isinstance(dataset_id, str) or not dataset_id:
        raise fault("datasetId", f"expected a dataset id, got {type_name(dataset_id)}")
    base = body.get("baseModel")
    if not isinstance(base, str) or not base:
        raise fault("baseModel", f"expected a model name, got {type_name(base)}")
    epochs = body.get("epochs", 3)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 20:
        raise fault("epochs", "expected an integer from 1 to 20")
    method = body.get("method", Method.MODELFILE)
    if method not in Method.values:
        raise fault("method", f"expected one of {', '.join(Method.values)}")
    rate = body.get("learningRate")
    if rate is not None and (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or not 0 < rate <= 1
    ):
        raise fault("learningRate", "expected a number above 0 and at most 1")
    suffix = body.get("suffix") or ""
    if not isinstance(suffix, str) or not SUFFIX.fullmatch(suffix):
        raise fault("suffix", "expected at most 40 letters, digits, '_', '-' or '.'")
    dataset = services.owned(Dataset.objects, principal.workspace_id, dataset_id, "dataset")
    try:
        model = resolve_model(base, principal, kind=None)
    except ApiError as exc:
        exc.param = "baseModel"
        raise
    hyper = hyperparameters.parse(body, method)
    validation = body.get("validationDatasetId")
    if validation is not None:
        if method != Method.LORA:
            raise fault("validationDatasetId", 'applies to method "lora" only')
        if not isinstance(validation, str) or not validation:
            raise fault(
                "validationDatasetId", f"expected a dataset id, got {type_name(validation)}"
            )
        held = services.owned(Dataset.objects, principal.workspace_id, validation, "dataset")
        hyper["validationDatasetId"] = str(held.pk)
    plan = principal.plan.code if principal.plan else None
    return services.JobSpec(dataset, model, method, epochs, rate, suffix, hyper, plan)


class JobsView(TrainingView):
    charges = {"POST": "job_create"}

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_list",
        parameters=[OpenApiParameter("limit", int, description="1-200, default 50")],
        responses={
            200: ok(schema.JobList, schema.JOB_LIST),
            **schema.errors("invalid_request_error"),
        },
    )
    def get(self, request: Any) -> HttpResponse:
        return newest_first(request, Job.objects.for_workspace(self.workspace_id), job_object)

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_create",
        request=body(schema.JobCreate, schema.JOB_REQUEST),
        responses={
            201: ok(schema.JobObject, schema.JOB),
            **schema.errors(
                schema.BAD_JOB,
                "base_model_not_trainable",
                "training_too_large",
                "model_not_allowed",
                "dataset_not_found",
                "model_not_found",
                "rate_limit_exceeded",
                "limits_unavailable",
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        spec = job_spec(self.json_body(request), request.auth)
        job = services.create_job(self.workspace_id, spec)
        return JsonResponse(job_object(job), status=201)


class JobDetailView(TrainingView):
    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_retrieve",
        responses={
            200: ok(schema.JobObject, schema.SUCCEEDED_JOB),
            **schema.errors("job_not_found"),
        },
    )
    def get(self, request: Any, job_id: str) -> HttpResponse:
        return JsonResponse(job_object(self.job(job_id)))

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_destroy",
        responses={204: None, **schema.errors("job_not_found", "job_active")},
    )
    def delete(self, request: Any, job_id: str) -> HttpResponse:
        services.delete_job(self.job(job_id))
        return HttpResponse(status=204)


class JobStartView(TrainingView):
    charges = {"POST": "job_start"}

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_start",
        request=None,
        responses={
            200: ok(schema.JobObject, schema.QUEUED_JOB),
            **schema.errors(
                "job_not_found",
                "job_already_started",
                "rate_limit_exceeded",
                "training_jobs_limit",
                "method_unavailable",
                "limits_unavailable",
                "queue_unavailable",
            ),
        },
    )
    def post(self, request: Any, job_id: str) -> HttpResponse:
        return JsonResponse(job_object(services.start_job(self.job(job_id), plan_of(request))))


def plan_of(request: Any) -> str | None:
    plan = request.auth.plan
    return plan.code if plan else None


class JobResumeView(TrainingView):
    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_resume",
        request=None,
        responses={
            200: ok(schema.JobObject, schema.RESUMED_JOB),
            **schema.errors(
                "job_not_found", "job_not_resumable", "training_jobs_limit", "queue_unavailable"
            ),
        },
    )
    def post(self, request: Any, job_id: str) -> HttpResponse:
        """A lora job that failed after a checkpoint (its worker died): queued again, training
        from the epoch after its last checkpoint."""
        return JsonResponse(job_object(services.resume_job(self.job(job_id), plan_of(request))))


class JobCancelView(TrainingView):
    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_cancel",
        request=None,
        responses={
            200: ok(schema.JobObject, schema.CANCELLED_JOB),
            **schema.errors("job_not_found", "job_not_cancellable"),
        },
    )
    def post(self, request: Any, job_id: str) -> HttpResponse:
        return JsonResponse(job_object(services.cancel_job(self.job(job_id))))


class JobLogView(TrainingView):
    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_log",
        parameters=[
            OpenApiParameter("after", int, description="only lines after this line id"),
            OpenApiParameter("limit", int, description="1-1000, default 200"),
        ],
        responses={
            200: ok(schema.JobLog, schema.JOB_LOG),
            **schema.errors(schema.BAD_AFTER, "job_not_found"),
        },
    )
    def get(self, request: Any, job_id: str) -> HttpResponse:
        job = self.job(job_id)
        after = request.GET.get("after", "0") or "0"
        if not DIGITS.fullmatch(after):
            raise fault("after", "expected a line id (a non-negative integer)")
        lines = services.log_lines(job, int(after), page_limit(request, 200, 1000))
        return JsonResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": line.id,
                        "time": iso(line.time),
                        "level": line.level,
                        "message": line.message,
                        **({"data": line.data} if line.data else {}),
                    }
                    for line in lines
                ],
                "last": lines[-1].id if lines else int(after),
                "state": job.state,
            }
        )


class JobRegisterView(TrainingView):
    charges = {"POST": "job_register"}

    @extend_schema(
        tags=TAGS,
        operation_id="finetune_jobs_register",
        request=body(schema.JobRegister, schema.REGISTER_REQUEST),
        responses={
            200: ok(schema.RegisteredModel, schema.REGISTERED_MODEL),
            **schema.errors(
                "invalid_model_name",
                "job_not_found",
                "job_not_succeeded",
                "job_already_registered",
                "model_name_taken",
                "base_model_unavailable",
                "rate_limit_exceeded",
                "upstream_error",
                "limits_unavailable",
            ),
        },
    )
    def post(self, request: Any, job_id: str) -> HttpResponse:
        job = self.job(job_id)
        raw = read_body(request)
        name = parse_json_object(raw).get("modelName") if raw.strip() else None
        if name is None:
            name = default_model_name(job)
        model = services.register_job(job, services.check_model_name(name))
        return JsonResponse(
            {
                "object": "model",
                "id": model.name,
                "modelName": model.name,
                "baseModel": job.base_model,
                "jobId": str(job.pk),
                "owned_by": "workspace",
                "context_window": model.context_window,
            }
        )


def default_model_name(job: Job) -> str:
    """Without modelName: the base model's name, then the job's suffix or its id's start."""
    base = job.base_model.replace("/", "-").split(":", 1)[0]
    return f"{base}-{job.suffix or job.pk.hex[:8]}"
