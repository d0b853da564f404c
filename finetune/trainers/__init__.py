"""Trainers turn a dataset into an artifact that registration hands to Ollama. One small
interface, so that a GPU trainer can be plugged in by setting, without touching the job plumbing:

    train(job, dataset, log, should_stop) -> artifact

- `dataset` iterates the dataset's conversations (normalised chat messages) and knows its size;
- `log(message, level="info", data=None)` appends to the job's log (`data`: a structured entry's
  fields, e.g. a step's losses), `log.progress(percent)` moves its bar;
- `should_stop()` is True once the job was cancelled (or given up for lost): the trainer returns
  promptly by raising `Stopped`; it also keeps the job's heartbeat;
- the artifact is a JSON-able dict: `system`, `messages`, `parameters` (what Ollama's
  `POST /api/create` takes besides `model` and `from`), plus any facts worth showing.

`settings.FINETUNE_TRAINERS` maps each method to a trainer's dotted path; an empty path means the
method is not available on this deployment (starting such a job fails fast with
`method_unavailable`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class TrainingError(Exception):
    """A failure the job reports as is: a stable code and a message for the customer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Stopped(Exception):
    """The trainer saw should_stop() and gave up its work."""


class TrainingData(Protocol):
    records: int
    tokens: int

    def __iter__(self) -> Iterator[list[dict[str, str]]]: ...


class JobLog(Protocol):
    def __call__(self, message: str, level: str = "info", data: Any = None) -> None: ...

    def progress(self, percent: int) -> None: ...


class Trainer(Protocol):
    def train(
        self, job: Any, dataset: TrainingData, log: JobLog, should_stop: Callable[[], bool]
    ) -> dict[str, Any]: ...


def trainer_configured(method: str) -> bool:
    """Whether this deployment has a trainer for `method` (without importing it: a GPU trainer's
    libraries load on the worker that runs it, never in a web process)."""
    return bool(settings.FINETUNE_TRAINERS.get(method))


def trainer_for(method: str) -> Trainer | None:
    """The trainer configured for `method`, or None when this deployment has none."""
    path = settings.FINETUNE_TRAINERS.get(method) or ""
    return import_string(path)() if path else None
