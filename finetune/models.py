"""Training datasets, fine-tune jobs and their logs. A dataset's records live in a JSONL file in
Django storage; the row keeps its statistics."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Workspace
from accounts.tenancy import WorkspaceOwnedQuerySet


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="datasets")
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="datasets/", max_length=300)
    records = models.PositiveIntegerField(default=0)
    estimated_tokens = models.PositiveBigIntegerField(default=0)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class Method(models.TextChoices):
    MODELFILE = "modelfile", "Modelfile (conditioning, CPU)"
    LORA = "lora", "LoRA (weight training, GPU)"


class State(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="finetune_jobs")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="jobs")
    base_model = models.CharField(max_length=200, help_text="the catalog's name of the base model")
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.MODELFILE)
    epochs = models.PositiveSmallIntegerField(default=3)
    learning_rate = models.FloatField(null=True, blank=True)
    hyperparameters = models.JSONField(
        default=dict, blank=True, help_text="the trainer's settings, validated, with defaults"
    )
    metrics = models.JSONField(
        default=list, blank=True, help_text="the trainer's progress entries (step, losses, …)"
    )
    checkpoint = models.JSONField(
        null=True, blank=True, help_text="the last epoch's checkpoint in storage (resume)"
    )
    suffix = models.CharField(max_length=40, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    artifact = models.JSONField(
        null=True, blank=True, help_text="the trainer's output: what registration sends to Ollama"
    )
    registered_model = models.CharField(max_length=200, blank=True)
    registering_since = models.DateTimeField(
        null=True, blank=True, help_text="a registration in progress (its claim lapses)"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.base_model} {self.method} job {self.id} ({self.state})"


class LogLine(models.Model):
    """One line of a job's log; its id orders the lines and is the `?after=` cursor (the worker,
    the cancel endpoint and the reaper may all write)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    time = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, default="info")
    message = models.TextField()
    data = models.JSONField(null=True, blank=True, help_text="a structured entry's fields")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.time:%H:%M:%S} {self.level}: {self.message}"
