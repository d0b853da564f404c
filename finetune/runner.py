"""A job's run on a worker: claim it, train, record the outcome. Every state change is a
conditional UPDATE on the state it leaves, so a cancel, the reaper and the worker never overwrite
each other, and a task delivered twice runs once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from .models import Dataset, Job, LogLine, State
from .trainers import Stopped, TrainingError, trainer_for

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0  # seconds between heartbeats (and cancellation checks) of a running job


LOCKED_TRIES = 20


def retry_locked(write: Callable[[], Any]) -> Any:
    """A write retried a few times while the database reports a lock (SQLite, in the embedded
    mode and the tests, refuses a write during another connection's read): a long run's outcome
    must not be lost to one."""
    for attempt in range(LOCKED_TRIES):
        try:
            return write()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == LOCKED_TRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None


def append_log(job_id: Any, message: str, level: str = "info", data: Any = None) -> None:
    retry_locked(
        lambda: LogLine.objects.create(job_id=job_id, level=level, message=message, data=data)
    )


def finish(
    job_id: Any, state: str, *, leaving: str = State.RUNNING, when: Any = None, **fields: Any
) -> bool:
    """Move the job from `leaving` to a final state; False if it had already left it. `when`
    narrows the condition further (a Q object)."""
    jobs = Job.objects.filter(pk=job_id, state=leaving)
    if when is not None:
        jobs = jobs.filter(when)
    now = timezone.now()
    return bool(
        retry_locked(lambda: jobs.update(state=state, finished_at=now, heartbeat_at=None, **fields))
    )


class StoredDataset:
    """A dataset's conversations, read from its JSONL file as the trainer iterates."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.records = dataset.records
        self.tokens = dataset.estimated_tokens

    def __iter__(self) -> Iterator[list[dict[str, str]]]:
        with self.dataset.file.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)["messages"]


class Run:
    """The log, progress and stop check a trainer is handed; the stop check is also the job's
    heartbeat (at most one UPDATE a second)."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self._checked = 0.0
        self._stopped = False

    def __call__(self, message: str, level: str = "info", data: Any = None) -> None:
        append_log(self.job_id, message, level, data)

    def progress(self, percent: int) -> None:
        Job.objects.filter(pk=self.job_id, state=State.RUNNING).update(
            progress=max(0, min(percent, 100)), heartbeat_at=timezone.now()
        )
        self._checked = time.monotonic()

    def should_stop(self) -> bool:
        if self._stopped:
            return True
        now = time.monotonic()
        if now - self._checked >= HEARTBEAT_EVERY:
            self._checked = now
            alive = Job.objects.filter(pk=self.job_id, state=State.RUNNING).update(
                heartbeat_at=timezone.now()
            )
            self._stopped = not alive  # cancelled, given up for lost, or deleted
        return self._stopped


def claim(job_id: Any) -> Job | None:
    """queued → running, for exactly one worker; None if the job is no longer queued."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=State.QUEUED).update(
        state=State.RUNNING, started_at=now, heartbeat_at=now, progress=0
    )
    return Job.objects.select_related("dataset").get(pk=job_id) if claimed else None


def run_job(job_id: Any) -> None:
    job = claim(job_id)
    if job is None:
        log.info("fine-tune job %s is no longer queued; nothing to run", job_id)
        return
    run = Run(job)
    run(f"Started on a worker: {job.method} from {job.base_model}, dataset {job.dataset.title!r}.")
    trainer = trainer_for(job.method)
    try:
        if trainer is None:
            raise TrainingError("method_unavailable", unavailable_message(job.method))
        artifact = trainer.train(job, StoredDataset(job.dataset), run, run.should_stop)
    except Stopped:
        run("Stopped: the job was cancelled.", "warning")
        return
    except TrainingError as exc:
        if finish(job.pk, State.FAILED, error_code=exc.code, error=exc.message):
            run(f"Failed: {exc.message}", "error")
        return
    except Exception as exc:
        log.exception("fine-tune job %s: the trainer failed", job.pk)
        message = f"The trainer failed unexpectedly ({type(exc).__name__}); it has been logged."
        if finish(job.pk, State.FAILED, error_code="trainer_error", error=message):
            run(f"Failed: {message}", "error")
        return
    if finish(job.pk, State.SUCCEEDED, artifact=artifact, progress=100):
        run(
            "Succeeded: register the result on the Fine-tune page, or with "
            f"POST /api/v1/finetune/jobs/{job.pk}/register."
        )
    else:
        run("Finished after the job was stopped; the result is discarded.", "warning")


def unavailable_message(method: str) -> str:
    return (
        f"The {method!r} method needs a trainer this deployment does not have (LoRA needs a GPU "
        'worker); create the job with method "modelfile", or ask your operator.'
    )


def reap_stale_jobs() -> int:
    """Fail every running job whose worker stopped sending heartbeats (it died, or lost its
    database): the job never stays `running` forever. Returns how many were reaped."""
    timeout = settings.FINETUNE_HEARTBEAT_TIMEOUT_SECONDS
    horizon = timezone.now() - timedelta(seconds=timeout)
    lost = f"The worker running this job stopped responding (no heartbeat for {timeout} s); "
    reaped = 0
    for job_id, checkpoint in Job.objects.filter(
        state=State.RUNNING, heartbeat_at__lt=horizon
    ).values_list("pk", "checkpoint"):
        message = lost + (
            f"resume it from its checkpoint of epoch {checkpoint['epoch']} with "
            "POST /api/v1/finetune/jobs/{id}/resume."
            if checkpoint
            else "start a new job from the same dataset."
        )
        stale = Q(heartbeat_at__lt=horizon)  # not if it beat again meanwhile
        if finish(job_id, State.FAILED, when=stale, error_code="worker_lost", error=message):
            append_log(job_id, f"Failed: {message}", "error")
            reaped += 1
    return reaped
