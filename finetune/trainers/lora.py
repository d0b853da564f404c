"""The `lora` method: real weight training of a LoRA adapter with PyTorch, transformers and peft.

Only training hosts import this module (the `train` extra; settings.FINETUNE_TRAINERS["lora"]):
web processes and the default worker never load PyTorch.

- The base model's weights come from settings.FINETUNE_LORA_BASE_WEIGHTS (a local Hugging Face
  directory, or a hub id already in the host's cache: nothing is downloaded, local_files_only).
- Each conversation is rendered with the base model's chat template; the loss counts the
  assistant turns only (their text and the template's end-of-turn token), never the system
  prompt or the user's turns.
- A seeded shuffle splits off `validationSplit` of the conversations for an eval loss per epoch;
  `batchSize` conversations make one optimizer step, FINETUNE_LORA_MICRO_BATCH per forward pass
  (gradient accumulation behind it); AdamW with a linear decay after a short warm-up.
- fp32 on a CPU; bf16 on a GPU that supports it.
- A heartbeat thread keeps the job alive during long steps and notices a cancel within about a
  second; the loop checks it between forward passes and raises Stopped.
- After each epoch, a checkpoint (adapter, optimizer, scheduler, metrics) goes to Django
  storage; a job that is resumed starts from the epoch after it.
- The artifact is the adapter as peft saves it (adapter_model.safetensors, adapter_config.json),
  stored in Django storage with each file's sha256 and size, ready for Ollama's blobs.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.utils import timezone
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from transformers import AutoModelForCausalLM, AutoTokenizer, get_linear_schedule_with_warmup

from proxy.errors import ApiError

from .. import hyperparameters
from ..models import Dataset, Job, State
from ..runner import retry_locked
from ..weights import base_weights
from . import JobLog, Stopped, TrainingData, TrainingError

log = logging.getLogger(__name__)
IGNORE = -100  # the label of a token the loss does not count
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")
HEARTBEAT_EVERY = 1.0
FLUSH_EVERY = 1.0  # seconds between writes of the metrics and progress of quick steps
WARMUP_SHARE = 0.05


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def render(tokenizer: Any, messages: list[dict[str, str]], **options: Any) -> str:
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **options)
    except Exception as exc:  # no template, or one that refuses a role (Gemma: no system)
        raise TrainingError(
            "chat_template_failed",
            f"The base model's chat template cannot render the dataset: {exc}",
        ) from exc


def encode(tokenizer: Any, conversation: list[dict[str, str]], max_length: int) -> Example:
    """The conversation as the chat template renders it, labelled on its assistant turns only."""
    text = render(tokenizer, conversation)
    spans = []
    for index, message in enumerate(conversation):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, conversation[:index], add_generation_prompt=True)
        through = render(tokenizer, conversation[: index + 1])
        if not text.startswith(before) or not text.startswith(through):
            raise TrainingError(
                "chat_template_failed",
                "The base model's chat template does not render a conversation as the sum of "
                "its turns; the assistant turns cannot be told apart.",
            )
        spans.append((len(before), len(through)))
    encoded = tokenizer(
        text,
        add_special_tokens=False,
        return_offsets_mapping=True,
        truncation=True,
        max_length=max_length,
    )
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE
        for token, (begin, _end) in zip(
            encoded["input_ids"], encoded["offset_mapping"], strict=True
        )
    ]
    return Example(list(encoded["input_ids"]), labels)


def finite_loss(loss: float, step: int | None, kind: str) -> float:
    """The loss, unless training diverged (NaN or infinity, which no metric or jsonb can hold)."""
    if math.isfinite(loss):
        return loss
    where = f"at step {step}" if step is not None else "at the epoch's evaluation"
    raise TrainingError(
        "loss_diverged",
        f"Training diverged: the {kind} loss became {loss} {where}. Lower learningRate "
        "(e.g. 0.0002) and start a new job.",
    )


def batches(examples: list[Example], size: int) -> list[list[Example]]:
    return [examples[i : i + size] for i in range(0, len(examples), size)]


def collate(group: list[Example], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in group)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in group]
    labels = [e.labels + [IGNORE] * (width - len(e.labels)) for e in group]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in group]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


def written(write: Callable[[], Any], lock: threading.Lock) -> Any:
    """A database write of the run, one at a time with the heartbeat's, retried while the
    database reports a lock (SQLite)."""

    def locked() -> Any:
        with lock:
            return write()

    return retry_locked(locked)


class Heartbeat(threading.Thread):
    """Beats the job's heartbeat (through should_stop) every second, even while a long forward
    pass runs, and remembers when the job was stopped. `lock` keeps its writes and the run's
    apart."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__(name="lora-heartbeat", daemon=True)
        self._should_stop = should_stop
        self._done = threading.Event()
        self.lock = threading.Lock()
        self.stopped = False

    def run(self) -> None:
        try:
            while not self._done.wait(HEARTBEAT_EVERY):
                try:
                    with self.lock:
                        stop = self._should_stop()
                    if stop:
                        self.stopped = True
                        return
                except DatabaseError as exc:  # a missed beat is not fatal; the next one counts
                    log.warning("fine-tune job heartbeat failed: %s", exc)
        finally:
            connection.close()  # this thread's own database connection

    def finish(self) -> None:
        self._done.set()
        self.join(timeout=10)


def device_and_dtype() -> tuple[str, torch.dtype]:
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return "cpu", torch.float32


def store(name: str, data: bytes) -> dict[str, Any]:
    path = default_storage.save(name, ContentFile(data))
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def job_folder(job: Any) -> str:
    return f"finetune/{job.workspace_id}/{job.pk}"


class LoraTrainer:
    def train(
        self, job: Any, dataset: TrainingData, log: JobLog, should_stop: Callable[[], bool]
    ) -> dict[str, Any]:
        heartbeat = Heartbeat(should_stop)
        heartbeat.start()
        try:
            return Training(job, dataset, log, lambda: heartbeat.stopped, heartbeat.lock).run()
        finally:
            heartbeat.finish()


class LockedLog:
    """The job's log, written one at a time with the heartbeat."""

    def __init__(self, log: JobLog, lock: threading.Lock) -> None:
        self._log, self._lock = log, lock

    def __call__(self, message: str, level: str = "info", data: Any = None) -> None:
        written(lambda: self._log(message, level, data), self._lock)

    def progress(self, percent: int) -> None:
        written(lambda: self._log.progress(percent), self._lock)


class Training:
    """One run of a lora job (a fresh start or a resume from its last checkpoint)."""

    def __init__(
        self,
        job: Any,
        dataset: TrainingData,
        log: JobLog,
        stopped: Callable[[], bool],
        lock: threading.Lock | None = None,
    ) -> None:
        self.lock = lock or threading.Lock()
        self.job, self.dataset, self.stopped = job, dataset, stopped
        self.log = LockedLog(log, self.lock)
        self.hp = {
            **{name: spec.default for name, spec in hyperparameters.LORA.items()},
            **(job.hyperparameters or {}),
        }
        self.learning_rate = job.learning_rate or hyperparameters.LEARNING_RATE
        self.metrics: list[dict[str, Any]] = []
        self.progress = 0
        self.flushed = 0.0  # when the metrics and progress were last written

    # --- the steps ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        hp = self.hp
        try:
            weights = base_weights(self.job.base_model)
        except ApiError as exc:
            raise TrainingError("base_model_not_trainable", exc.message) from None
        device, dtype = device_and_dtype()
        self.log(
            f"Method lora: trains a LoRA adapter (rank {hp['loraRank']}, alpha {hp['loraAlpha']}, "
            f"dropout {hp['loraDropout']}) on {weights.architecture} weights from "
            f"{weights.path}, {device} in {str(dtype).removeprefix('torch.')}."
        )
        tokenizer, model = self.load(weights.path, device, dtype)
        train_set, eval_set, system = self.examples(tokenizer)
        micro = max(1, min(settings.FINETUNE_LORA_MICRO_BATCH, hp["batchSize"]))
        accumulation = math.ceil(hp["batchSize"] / micro)
        steps_per_epoch = math.ceil(len(train_set) / (micro * accumulation))
        total_steps = steps_per_epoch * self.job.epochs
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=self.learning_rate
        )
        scheduler = get_linear_schedule_with_warmup(
            optimizer, math.ceil(total_steps * WARMUP_SHARE), total_steps
        )
        first_epoch = self.resume(model, optimizer, scheduler)
        self.log(
            f"{len(train_set)} training and {len(eval_set)} validation conversations; "
            f"{self.job.epochs} epoch(s) of {steps_per_epoch} step(s) of {hp['batchSize']} "
            f"({micro} per pass × {accumulation}), learning rate {self.learning_rate:g}, "
            f"seed {hp['seed']}.",
            data={
                "event": "plan",
                "trainExamples": len(train_set),
                "evalExamples": len(eval_set),
                "stepsPerEpoch": steps_per_epoch,
                "totalSteps": total_steps,
                "gradientAccumulation": accumulation,
                "device": device,
                "dtype": str(dtype).removeprefix("torch."),
            },
        )
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        started = time.monotonic()
        tokens_seen = 0
        step = steps_per_epoch * (first_epoch - 1)
        for epoch in range(first_epoch, self.job.epochs + 1):
            model.train()
            torch.manual_seed(hp["seed"] + epoch)
            order = list(train_set)
            random.Random(hp["seed"] + epoch).shuffle(order)
            for group in batches(order, micro * accumulation):
                step_started = time.monotonic()
                loss_sum = token_sum = 0.0
                for part in batches(group, micro):
                    self.check()
                    inputs = collate(part, pad_id, device)
                    labelled = int((inputs["labels"] != IGNORE).sum())
                    loss = model(**inputs).loss
                    (loss * labelled / max(1, sum(e.trained_tokens for e in group))).backward()
                    loss_sum += float(loss) * labelled
                    token_sum += labelled
                    tokens_seen += int(inputs["attention_mask"].sum())
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                train_loss = finite_loss(loss_sum / max(token_sum, 1), step, "train")
                elapsed = time.monotonic() - started
                self.record(
                    {
                        "event": "step",
                        "step": step,
                        "totalSteps": total_steps,
                        "epoch": epoch,
                        "trainLoss": round(train_loss, 5),
                        "learningRate": scheduler.get_last_lr()[0],
                        "tokensPerSecond": round(tokens_seen / max(elapsed, 1e-9), 1),
                        "stepSeconds": round(time.monotonic() - step_started, 3),
                        "etaSeconds": round(
                            elapsed
                            / max(step - steps_per_epoch * (first_epoch - 1), 1)
                            * (total_steps - step),
                            1,
                        ),
                    },
                    progress=min(99, 100 * step // max(total_steps, 1)),
                    keep=step in (1, total_steps) or step % max(1, total_steps // 500) == 0,
                    say=step in (1, total_steps) or step % max(1, total_steps // 20) == 0,
                )
            eval_loss = self.evaluate(model, eval_set, pad_id, device)
            self.record(
                {"event": "epoch", "epoch": epoch, "step": step, "evalLoss": eval_loss},
                say=True,
            )
            self.checkpoint(model, optimizer, scheduler, epoch, step)
        self.check()
        elapsed = time.monotonic() - started
        return self.artifact(model, weights, system, tokens_seen, elapsed)

    def load(self, path: str, device: str, dtype: torch.dtype) -> tuple[Any, Any]:
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise TrainingError(
                "base_weights_unavailable",
                f"The base weights could not be loaded from {path!r} on this training host: "
                f"{str(exc)[:300]}",
            ) from exc
        torch.manual_seed(self.hp["seed"])  # the LoRA matrices' initial values
        config = LoraConfig(
            r=self.hp["loraRank"],
            lora_alpha=self.hp["loraAlpha"],
            lora_dropout=self.hp["loraDropout"],
            target_modules=TARGET_MODULES,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model.to(device), config)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        self.log(f"Trainable parameters: {trainable:,} of {total:,}.")
        return tokenizer, model

    def examples(self, tokenizer: Any) -> tuple[list[Example], list[Example], str | None]:
        conversations = list(self.dataset)
        systems = Counter(c[0]["content"] for c in conversations if c and c[0]["role"] == "system")
        examples = [encode(tokenizer, c, self.hp["maxSeqLength"]) for c in conversations]
        examples = [e for e in examples if e.trained_tokens]
        if not examples:
            raise TrainingError(
                "dataset_too_short",
                f"No conversation has an assistant turn within maxSeqLength "
                f"({self.hp['maxSeqLength']} tokens).",
            )
        if self.hp.get("validationDatasetId"):
            held_out = self.validation_dataset()
            eval_set = [encode(tokenizer, c, self.hp["maxSeqLength"]) for c in held_out]
            eval_set = [e for e in eval_set if e.trained_tokens]
            system = systems.most_common(1)[0][0] if systems else None
            return examples, eval_set, system
        order = list(range(len(examples)))
        random.Random(self.hp["seed"]).shuffle(order)
        held = round(len(examples) * self.hp["validationSplit"])
        if self.hp["validationSplit"] and len(examples) >= 2:
            held = max(1, min(held, len(examples) - 1))
        eval_set = [examples[i] for i in order[:held]]
        train_set = [examples[i] for i in order[held:]]
        system = systems.most_common(1)[0][0] if systems else None
        return train_set, eval_set, system

    def validation_dataset(self) -> list[list[dict[str, str]]]:
        """The conversations of the job's validation dataset (`validationDatasetId`)."""
        from ..runner import StoredDataset

        try:
            held_out = Dataset.objects.for_workspace(str(self.job.workspace_id)).get(
                pk=self.hp["validationDatasetId"]
            )
        except Dataset.DoesNotExist:
            raise TrainingError(
                "validation_dataset_missing",
                "The validation dataset was deleted; create the job again without it.",
            ) from None
        return list(StoredDataset(held_out))

    @torch.no_grad()
    def evaluate(
        self, model: Any, eval_set: list[Example], pad_id: int, device: str
    ) -> float | None:
        if not eval_set:
            return None
        model.eval()
        loss_sum = token_sum = 0.0
        for part in batches(eval_set, max(1, settings.FINETUNE_LORA_MICRO_BATCH)):
            self.check()
            inputs = collate(part, pad_id, device)
            labelled = int((inputs["labels"] != IGNORE).sum())
            loss_sum += float(model(**inputs).loss) * labelled
            token_sum += labelled
        model.train()
        return round(finite_loss(loss_sum / max(token_sum, 1), None, "eval"), 5)

    # --- reporting, checkpoints, the artifact -----------------------------------------------------

    def check(self) -> None:
        if self.stopped():
            raise Stopped

    def record(
        self,
        entry: dict[str, Any],
        progress: int | None = None,
        keep: bool = True,
        say: bool = False,
    ) -> None:
        """Keep the entry in the job's metrics (at most ~500 step entries a job), move the bar,
        and log it as a structured line when `say`. The job's row is written at most once a
        second (and at each logged entry), however quick the steps."""
        entry = {**entry, "time": timezone.now().isoformat().replace("+00:00", "Z")}
        if keep:
            self.metrics.append(entry)
        if progress is not None:
            self.progress = progress
        now = time.monotonic()
        if say or entry["event"] != "step" or now - self.flushed >= FLUSH_EVERY:
            self.flushed = now
            fields = {"metrics": self.metrics, "progress": self.progress}
            jobs = Job.objects.filter(pk=self.job.pk, state=State.RUNNING)
            written(lambda: jobs.update(**fields), self.lock)
        if say:
            self.log(describe(entry), data=entry)

    def resume(self, model: Any, optimizer: Any, scheduler: Any) -> int:
        """The epoch to start from: 1, or the one after the job's checkpoint."""
        saved = self.job.checkpoint
        if not saved:
            return 1
        try:
            with default_storage.open(saved["path"], "rb") as handle:
                state = torch.load(io.BytesIO(handle.read()), weights_only=True)
        except (OSError, RuntimeError, KeyError) as exc:
            self.log(f"The checkpoint could not be read ({exc}); starting over.", "warning")
            return 1
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self.metrics = list(self.job.metrics or [])
        self.log(
            f"Resumed from the checkpoint of epoch {state['epoch']} (step {state['step']}).",
            data={"event": "resume", "epoch": state["epoch"], "step": state["step"]},
        )
        return int(state["epoch"]) + 1

    def checkpoint(self, model: Any, optimizer: Any, scheduler: Any, epoch: int, step: int) -> None:
        buffer = io.BytesIO()
        torch.save(
            {
                "epoch": epoch,
                "step": step,
                "adapter": get_peft_model_state_dict(model),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            },
            buffer,
        )
        saved = store(f"{job_folder(self.job)}/checkpoint-epoch{epoch}.pt", buffer.getvalue())
        previous = self.job.checkpoint
        self.job.checkpoint = {**saved, "epoch": epoch, "step": step}
        jobs = Job.objects.filter(pk=self.job.pk)
        written(lambda: jobs.update(checkpoint=self.job.checkpoint), self.lock)
        if previous and previous.get("path") != saved["path"]:
            default_storage.delete(previous["path"])
        self.log(f"Checkpoint of epoch {epoch} saved ({saved['size']:,} bytes).")

    def artifact(
        self, model: Any, weights: Any, system: str | None, tokens: int, elapsed: float
    ) -> dict[str, Any]:
        files: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as folder:
            model.save_pretrained(folder, safe_serialization=True)
            for name in ADAPTER_FILES:
                data = (Path(folder) / name).read_bytes()
                files[name] = store(f"{job_folder(self.job)}/{name}", data)
        steps = [m for m in self.metrics if m["event"] == "step"]
        evals = [m["evalLoss"] for m in self.metrics if m["event"] == "epoch"]
        summary = {
            "trainLossFirst": steps[0]["trainLoss"] if steps else None,
            "trainLossLast": steps[-1]["trainLoss"] if steps else None,
            "evalLoss": evals[-1] if evals else None,
            "tokensPerSecond": round(tokens / max(elapsed, 1e-9), 1),
            "seconds": round(elapsed, 1),
        }
        self.log(
            f"Adapter saved: {files[ADAPTER_FILES[0]]['size']:,} bytes, sha256 "
            f"{files[ADAPTER_FILES[0]]['sha256'][:12]}…; train loss "
            f"{summary['trainLossFirst']} → {summary['trainLossLast']}, eval loss "
            f"{summary['evalLoss']}, {summary['tokensPerSecond']} tokens/s.",
            data={"event": "done", **summary},
        )
        return {
            "method": "lora",
            "system": system,
            "adapter": files,
            "architecture": weights.architecture,
            "hyperparameters": self.hp,
            "learningRate": self.learning_rate,
            **summary,
        }


def describe(entry: dict[str, Any]) -> str:
    if entry["event"] == "epoch":
        shown = "n/a" if entry["evalLoss"] is None else f"{entry['evalLoss']:.4f}"
        return f"Epoch {entry['epoch']} done at step {entry['step']}: eval loss {shown}."
    return (
        f"Step {entry['step']}/{entry['totalSteps']} (epoch {entry['epoch']}): train loss "
        f"{entry['trainLoss']:.4f}, lr {entry['learningRate']:.2e}, "
        f"{entry['tokensPerSecond']:.0f} tokens/s, ETA {entry['etaSeconds']:.0f} s."
    )
