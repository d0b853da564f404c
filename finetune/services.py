"""Fine-tuning's business logic: datasets, jobs and their states, registration in Ollama.

Every failure a customer can cause is an ApiError; every write is all or nothing.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet
from django.utils import timezone

from proxy.errors import ApiError
from proxy.local import REGISTERED_PREFIX
from proxy.models import Deployment, Model
from proxy.registry import DeploymentInfo, ModelInfo, registry

from . import ollama, runner, weights
from .datasets import ParsedDataset
from .models import Dataset, Job, LogLine, Method, State
from .trainers import trainer_configured

log = logging.getLogger(__name__)

QUEUES = {Method.LORA: "training"}  # GPU hosts consume `training`; the rest runs on `default`
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]|\.(?!\.)){0,79}"
MODEL_NAME = re.compile(rf"^{_PART}(?::{_PART})?$")
RESERVED_NAMES = ("agent",)  # `agent:<name>` calls an agent (agents app)


def owned(queryset: QuerySet, workspace_id: str, object_id: Any, what: str) -> Any:
    """The workspace's object, or 404 `<what>_not_found` (also for another workspace's id)."""
    try:
        return queryset.for_workspace(workspace_id).get(pk=uuid.UUID(str(object_id)))
    except (ValueError, queryset.model.DoesNotExist):
        raise ApiError(
            404, f"{what}_not_found", f"No {what.replace('_', ' ')} with id {str(object_id)!r}."
        ) from None


# --- datasets -----------------------------------------------------------------------------------


def create_dataset(workspace_id: str, title: str, parsed: ParsedDataset) -> Dataset:
    """Store the normalised records as a JSONL file, then the row; no file without its row."""
    data = parsed.jsonl()
    dataset = Dataset(
        workspace_id=workspace_id,
        title=title,
        records=len(parsed.conversations),
        estimated_tokens=parsed.tokens,
        size_bytes=len(data),
    )
    stored = default_storage.save(f"datasets/{workspace_id}/{dataset.pk}.jsonl", ContentFile(data))
    dataset.file.name = stored
    try:
        with transaction.atomic():
            dataset.save(force_insert=True)
    except Exception:
        default_storage.delete(stored)
        raise
    return dataset


def delete_dataset(dataset: Dataset) -> None:
    """Delete the row, then its file once that has committed; 409 while a job uses it (the
    foreign key refuses it too, should a job be created meanwhile)."""
    name = dataset.file.name
    try:
        with transaction.atomic():
            dataset.delete()
            transaction.on_commit(lambda: default_storage.delete(name))
    except ProtectedError:
        jobs = ", ".join(str(pk) for pk in dataset.jobs.values_list("pk", flat=True)[:5])
        raise ApiError(
            409,
            "dataset_in_use",
            f"Fine-tune jobs use this dataset; delete them first ({jobs}).",
        ) from None


# --- jobs ---------------------------------------------------------------------------------------


@dataclass
class JobSpec:
    dataset: Dataset
    base_model: ModelInfo
    method: str
    epochs: int
    learning_rate: float | None
    suffix: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    plan: str | None = None  # the workspace's plan code (its lora limits)


def lora_limits(plan: str | None) -> dict[str, int]:
    """The lora caps of a plan: `max_token_epochs` (dataset tokens × epochs of one job) and
    `max_concurrent` (the workspace's lora jobs queued or running at once)."""
    limits = settings.FINETUNE_LORA_LIMITS
    return {**limits.get("default", {}), **limits.get(plan or "", {})}


def ollama_deployments(model: ModelInfo) -> list[DeploymentInfo]:
    """One deployment per Ollama upstream serving the model (where a fine-tune must be created)."""
    seen: set[int] = set()
    found = []
    for deployment in model.deployments:
        if deployment.upstream.kind == "ollama" and deployment.upstream.id not in seen:
            seen.add(deployment.upstream.id)
            found.append(deployment)
    return found


def create_job(workspace_id: str, spec: JobSpec) -> Job:
    if spec.base_model.kind != "chat" or not ollama_deployments(spec.base_model):
        raise ApiError(
            400,
            "base_model_not_trainable",
            f"baseModel: {spec.base_model.name!r} is not a chat model served by an Ollama "
            "upstream; fine-tunes are registered in Ollama.",
            param="baseModel",
        )
    if spec.method == Method.LORA and trainer_configured(Method.LORA):
        weights.base_weights(spec.base_model.name)
        _check_token_epochs(spec)
    return Job.objects.create(
        workspace_id=workspace_id,
        dataset=spec.dataset,
        base_model=spec.base_model.name,
        method=spec.method,
        epochs=spec.epochs,
        learning_rate=spec.learning_rate,
        suffix=spec.suffix,
        hyperparameters=spec.hyperparameters,
    )


def _check_token_epochs(spec: JobSpec) -> None:
    most = lora_limits(spec.plan).get("max_token_epochs")
    wanted = spec.dataset.estimated_tokens * spec.epochs
    if most is not None and wanted > most:
        raise ApiError(
            400,
            "training_too_large",
            f"epochs: the dataset's {spec.dataset.estimated_tokens:,} tokens × {spec.epochs} "
            f"epoch(s) = {wanted:,} trained tokens, over your plan's limit of {most:,}.",
            param="epochs",
        )


def _check_concurrency(job: Job, plan: str | None) -> None:
    most = lora_limits(plan).get("max_concurrent")
    if most is None:
        return
    busy = Job.objects.filter(
        workspace_id=job.workspace_id,
        method=Method.LORA,
        state__in=(State.QUEUED, State.RUNNING),
    ).count()
    if busy >= most:
        raise ApiError(
            429,
            "training_jobs_limit",
            f"Your plan runs {most} lora job(s) at a time and {busy} are queued or running; "
            "start this one when one has finished.",
            type="rate_limit_error",
        )


def start_job(job: Job, plan: str | None = None) -> Job:
    """pending → queued, and the run on a worker once the transaction commits. A method this
    deployment has no trainer for fails the job at once (`method_unavailable`, 501)."""
    if job.state != State.PENDING:
        raise ApiError(409, "job_already_started", f"The job is already {job.state}.")
    if job.method == Method.LORA and trainer_configured(job.method):
        _check_concurrency(job, plan)
    if not trainer_configured(job.method):
        message = runner.unavailable_message(job.method)
        if runner.finish(
            job.pk,
            State.FAILED,
            leaving=State.PENDING,
            error_code="method_unavailable",
            error=message,
        ):
            runner.append_log(job.pk, f"Failed: {message}", "error")
        raise ApiError(501, "method_unavailable", message, type="invalid_request_error")
    task_id = uuid.uuid4().hex
    with transaction.atomic():
        started = Job.objects.filter(pk=job.pk, state=State.PENDING).update(
            state=State.QUEUED, queued_at=timezone.now(), task_id=task_id
        )
        if not started:  # another start won the race
            raise ApiError(409, "job_already_started", "The job is already started.")
        runner.append_log(job.pk, f"Queued on {QUEUES.get(job.method, 'default')!r}.")
        transaction.on_commit(lambda: _send(job, task_id))
    job.refresh_from_db()
    if job.state == State.PENDING:  # _send could not reach the broker and put it back
        raise ApiError(
            503,
            "queue_unavailable",
            "The job could not be queued (the task queue is unreachable); it is still pending. "
            "Start it again shortly.",
            headers={"Retry-After": "5"},
        )
    return job


def _send(job: Job, task_id: str) -> None:
    """Hand the run to a worker; if the broker cannot take it, the job goes back to pending."""
    from .tasks import run_job

    try:
        run_job.apply_async(
            args=[str(job.pk)], task_id=task_id, queue=QUEUES.get(job.method, "default")
        )
    except Exception:
        log.exception("could not queue fine-tune job %s", job.pk)
        Job.objects.filter(pk=job.pk, state=State.QUEUED, task_id=task_id).update(
            state=State.PENDING, queued_at=None, task_id=""
        )
        runner.append_log(job.pk, "Could not be queued (the task queue is unreachable).", "error")


def cancel_job(job: Job) -> Job:
    """Pending or queued: cancelled at once (a queued task is revoked, and would find the job
    cancelled anyway). Running: the trainer sees it at its next check, within seconds."""
    cancelled = Job.objects.filter(
        pk=job.pk, state__in=(State.PENDING, State.QUEUED, State.RUNNING)
    ).update(state=State.CANCELLED, finished_at=timezone.now(), heartbeat_at=None)
    job.refresh_from_db()
    if not cancelled:
        raise ApiError(409, "job_not_cancellable", f"The job has already {job.state}.")
    runner.append_log(job.pk, "Cancelled at the customer's request.", "warning")
    if job.task_id:
        _revoke(job.task_id)  # a queued task is dropped; a running one stops by itself
    return job


def _revoke(task_id: str) -> None:
    from config.celery import app

    try:
        app.control.revoke(task_id)
    except Exception as exc:  # brokers without broadcast (the embedded one): the state suffices
        log.info("could not revoke task %s: %s", task_id, exc)


def resume_job(job: Job, plan: str | None = None) -> Job:
    """A lora job that failed (its worker died, or the trainer broke) with a checkpoint: queued
    again, and the trainer starts from the epoch after the checkpoint."""
    if job.state != State.FAILED or not job.checkpoint:
        raise ApiError(
            409,
            "job_not_resumable",
            "Only a failed job with a checkpoint can be resumed; this one is "
            f"{job.state}{'' if job.checkpoint else ' without a checkpoint'}.",
        )
    _check_concurrency(job, plan)
    task_id = uuid.uuid4().hex
    with transaction.atomic():
        resumed = Job.objects.filter(pk=job.pk, state=State.FAILED).update(
            state=State.QUEUED,
            queued_at=timezone.now(),
            finished_at=None,
            task_id=task_id,
            error_code="",
            error="",
        )
        if not resumed:
            raise ApiError(409, "job_not_resumable", "The job has just been resumed.")
        runner.append_log(
            job.pk, f"Resumed from the checkpoint of epoch {job.checkpoint.get('epoch')}."
        )
        transaction.on_commit(lambda: _send(job, task_id))
    job.refresh_from_db()
    return job


def delete_job(job: Job) -> None:
    """Delete the row, then its stored files (adapter, checkpoint) once that has committed."""
    if job.state in (State.QUEUED, State.RUNNING):
        raise ApiError(409, "job_active", f"The job is {job.state}; cancel it before deleting it.")
    files = stored_files(job)
    with transaction.atomic():
        deleted, _ = (
            Job.objects.filter(pk=job.pk).exclude(state__in=(State.QUEUED, State.RUNNING)).delete()
        )
        if not deleted:
            raise ApiError(409, "job_active", "The job has just started; cancel it first.")
        transaction.on_commit(lambda: [default_storage.delete(name) for name in files])


def stored_files(job: Job) -> list[str]:
    """The storage names of the job's adapter files and checkpoint."""
    adapter = (job.artifact or {}).get("adapter") or {}
    names = [f["path"] for f in adapter.values() if isinstance(f, dict) and f.get("path")]
    if job.checkpoint and job.checkpoint.get("path"):
        names.append(job.checkpoint["path"])
    return names


def log_lines(job: Job, after: int, limit: int) -> list[LogLine]:
    return list(LogLine.objects.filter(job=job, id__gt=after).order_by("id")[:limit])


# --- registration -------------------------------------------------------------------------------


def ollama_name(job: Job, name: str) -> str:
    """The name on the Ollama server, namespaced per workspace and job: two workspaces can both
    have `my-tuned-model`, and a failed registration removes only what it created itself."""
    return f"{REGISTERED_PREFIX}{job.workspace_id.hex}-{job.pk.hex[:12]}/{name}"


def check_model_name(name: Any) -> str:
    """Ollama's naming rules: `model` or `model:tag`; each part 1–80 letters, digits, `_`, `-`
    or `.` (no two dots in a row), starting with a letter, digit or `_`."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise ApiError(
            400,
            "invalid_model_name",
            "modelName: expected `name` or `name:tag`, each 1-80 letters, digits, '_', '-' or "
            "'.', starting with a letter, digit or '_'.",
            param="modelName",
        )
    if name.split(":", 1)[0].lower() in RESERVED_NAMES:
        raise ApiError(
            400, "invalid_model_name", f"modelName: {name!r} is reserved.", param="modelName"
        )
    return name


REGISTRATION_CLAIM = timedelta(minutes=15)  # longer than creating on every host can take


def register_job(job: Job, name: str) -> Model:
    """Create the job's model on every Ollama upstream that serves its base model, confirm it
    with /api/show, and add it to the catalog as the workspace's private model. All or nothing:
    what may have been created in Ollama is deleted again if a step fails. One registration per
    job at a time (a claim that lapses, should the process die holding it)."""
    if job.state != State.SUCCEEDED or not job.artifact:
        raise ApiError(
            409,
            "job_not_succeeded",
            f"Only a succeeded job can be registered; this one is {job.state}.",
        )
    now = timezone.now()
    claimed = (
        Job.objects.filter(pk=job.pk, registered_model="")
        .filter(
            Q(registering_since__isnull=True) | Q(registering_since__lt=now - REGISTRATION_CLAIM)
        )
        .update(registering_since=now)
    )
    if not claimed:
        job.refresh_from_db()
        raise ApiError(
            409,
            "job_already_registered",
            f"The job is already registered as {job.registered_model!r}."
            if job.registered_model
            else "The job is being registered right now.",
        )
    touched: list[DeploymentInfo] = []
    remote = ollama_name(job, name)
    try:
        base = _registrable(job, name)
        for deployment in ollama_deployments(base):
            touched.append(deployment)  # before the call: a lost answer may hide a created model
            try:
                adapters = _upload_adapter(deployment, job.artifact)
                ollama.create(
                    deployment.upstream, remote, deployment.upstream_model, job.artifact, adapters
                )
                ollama.show(deployment.upstream, remote)
            except ollama.OllamaError as exc:
                raise ApiError(
                    502,
                    "upstream_error",
                    f"Ollama ({deployment.upstream.name}) could not create the model: {exc}",
                ) from exc
        model = _add_to_catalog(job, name, base, remote, touched)
    except BaseException:
        _forget(touched, remote)
        Job.objects.filter(pk=job.pk).update(registering_since=None)
        raise
    registry.invalidate()
    runner.append_log(job.pk, f"Registered as {name!r} ({remote} in Ollama).")
    job.registered_model, job.registering_since = name, None
    return model


def _upload_adapter(deployment: DeploymentInfo, artifact: dict[str, Any]) -> dict[str, str]:
    """A lora artifact's files as blobs on the deployment's Ollama (each skipped if it is there
    already); `adapters` for /api/create: file name → `sha256:<digest>`. {} for modelfile."""
    adapters = {}
    for name, stored in (artifact.get("adapter") or {}).items():
        digest = f"sha256:{stored['sha256']}"
        if not ollama.has_blob(deployment.upstream, digest):
            with default_storage.open(stored["path"], "rb") as handle:
                ollama.push_blob(deployment.upstream, digest, handle.read())
        adapters[name] = digest
    return adapters


def _registrable(job: Job, name: str) -> ModelInfo:
    """The base model to register on; 409 if the name is taken or the base is gone."""
    if Model.objects.filter(
        Q(workspace_id=job.workspace_id) | Q(workspace__isnull=True), name=name
    ).exists():
        raise _name_taken(name)
    base = registry.snapshot().resolve(job.base_model, str(job.workspace_id))
    if base is None or not ollama_deployments(base):
        raise ApiError(
            409,
            "base_model_unavailable",
            f"The base model {job.base_model!r} is no longer served by an Ollama upstream.",
        )
    return base


def _name_taken(name: str) -> ApiError:
    return ApiError(
        409,
        "model_name_taken",
        f"modelName: a model named {name!r} already exists.",
        param="modelName",
    )


def _add_to_catalog(
    job: Job, name: str, base: ModelInfo, remote: str, on: list[DeploymentInfo]
) -> Model:
    try:
        with transaction.atomic():
            model = Model.objects.create(
                workspace_id=job.workspace_id,
                name=name,
                description=f"Fine-tune of {base.name} ({job.method}, job {job.pk})"[:300],
                context_window=job.artifact.get("context_window") or base.context_window,
                input_price_per_mtok=base.input_price_per_mtok,
                output_price_per_mtok=base.output_price_per_mtok,
                quota_weight_offpeak=base.quota_weight_offpeak,
                quota_weight_peak=base.quota_weight_peak,
                capabilities=list(base.capabilities),
            )
            Deployment.objects.bulk_create(
                Deployment(
                    model=model,
                    upstream_id=deployment.upstream.id,
                    upstream_model=remote,
                    priority=deployment.priority,
                    weight=deployment.weight,
                    tiers=list(deployment.tiers),
                )
                for deployment in on
            )
            Job.objects.filter(pk=job.pk).update(registered_model=name, registering_since=None)
    except IntegrityError:  # the same name, registered by another job meanwhile
        raise _name_taken(name) from None
    return model


def _forget(touched: list[DeploymentInfo], remote: str) -> None:
    """Delete `remote` wherever it may have been created (a 404 means it never was)."""
    for deployment in touched:
        try:
            ollama.delete(deployment.upstream, remote)
        except ollama.OllamaMissing:
            pass
        except ollama.OllamaError as exc:
            log.error(
                "could not delete %s from %s after a failed registration: %s",
                remote,
                deployment.upstream.name,
                exc,
            )
