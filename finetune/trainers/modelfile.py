"""The `modelfile` method: conditioning, not weight training.

It compiles the dataset into an Ollama model definition: the base model, a system prompt, few-shot
example conversations and parameters. Ollama prepends the examples to every chat with the new
model, so it answers in the dataset's style on any CPU, at once, without a GPU; the base model's
weights are not changed.

The stated rule for the examples:
- The system prompt is the one most records carry (none if none carries one).
- The example budget is a quarter of the base model's context window, and at most
  FINETUNE_MODELFILE_MAX_EXAMPLE_TOKENS (8,192 by default), less the system prompt.
- Conversations are taken whole, in dataset order; each one that fits in what is left of the
  budget is kept, one that does not is skipped, up to FINETUNE_MODELFILE_MAX_EXAMPLES.
- `num_ctx` is set so that the system prompt, the examples and 8,192 tokens of conversation fit
  (rounded up to 1,024, never above the base model's window): Ollama's small default context
  would otherwise cut the examples off, and a larger one costs memory on every chat. What is
  left for the conversation is the new model's context window in the catalog.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from django.conf import settings

from proxy.registry import registry
from proxy.tokens import count_tokens, prompt_tokens

from . import JobLog, Stopped, TrainingData, TrainingError

CONVERSATION_ROOM = 8192
CHECK_EVERY = 200  # records between cancellation checks


def _system_of(conversation: list[dict[str, str]]) -> str | None:
    first = conversation[0] if conversation else None
    return first["content"] if first and first["role"] == "system" else None


def _turns(conversation: list[dict[str, str]]) -> list[dict[str, str]]:
    return [m for m in conversation if m["role"] != "system"]


class ModelfileTrainer:
    def train(
        self, job: Any, dataset: TrainingData, log: JobLog, should_stop: Callable[[], bool]
    ) -> dict[str, Any]:
        base = registry.snapshot().resolve(job.base_model, str(job.workspace_id))
        if base is None:
            raise TrainingError(
                "base_model_unavailable", f"The base model {job.base_model!r} is no longer served."
            )
        window = base.context_window
        budget = min(window // 4, settings.FINETUNE_MODELFILE_MAX_EXAMPLE_TOKENS)
        log(
            f"Method modelfile: conditions {base.name} with a system prompt and few-shot examples "
            "(an Ollama model definition); the base model's weights are not trained."
        )
        log("epochs and learningRate apply to weight training (lora); this method ignores them.")
        if not dataset.records:
            log("The dataset has no records: the model will be the base model as it is.", "warning")

        systems: Counter[str] = Counter()
        for index, conversation in enumerate(dataset, start=1):
            if index % CHECK_EVERY == 0:
                self._checkpoint(should_stop, log, index, dataset.records, 0, 45)
            if system := _system_of(conversation):
                systems[system] += 1
        system = systems.most_common(1)[0][0] if systems else None
        if len(systems) > 1:
            others = sum(systems.values()) - systems[system]
            log(f"{others} record(s) carry another system prompt; the most common one is used.")
        system_tokens = count_tokens(system or "")
        budget = max(budget - system_tokens, 0)
        log(
            f"Example budget: {budget:,} tokens (a quarter of {base.name}'s {window:,}-token "
            f"context window, at most {settings.FINETUNE_MODELFILE_MAX_EXAMPLE_TOKENS:,}, "
            "less the system prompt)."
        )

        messages: list[dict[str, str]] = []
        used = chosen = 0
        limit = settings.FINETUNE_MODELFILE_MAX_EXAMPLES
        for index, conversation in enumerate(dataset, start=1):
            if index % CHECK_EVERY == 0:
                self._checkpoint(should_stop, log, index, dataset.records, 45, 90)
            if chosen >= limit:
                break
            turns = _turns(conversation)
            cost = prompt_tokens(turns)
            if used + cost > budget:
                continue
            messages += turns
            used += cost
            chosen += 1
        if should_stop():
            raise Stopped
        log(f"Selected {chosen:,} of {dataset.records:,} examples, {used:,} tokens.")

        num_ctx = min(window, -(-(system_tokens + used + CONVERSATION_ROOM) // 1024) * 1024)
        room = num_ctx - system_tokens - used
        log(
            f"num_ctx {num_ctx:,}: {num_ctx - room:,} tokens of conditioning, {room:,} left for chats."
        )
        log.progress(95)
        return {
            "system": system,
            "messages": messages,
            "parameters": {"num_ctx": num_ctx},
            "examples": chosen,
            "example_tokens": used,
            "context_window": room,
        }

    @staticmethod
    def _checkpoint(
        should_stop: Callable[[], bool], log: JobLog, index: int, total: int, low: int, high: int
    ) -> None:
        if should_stop():
            raise Stopped
        log.progress(low + (high - low) * index // max(total, 1))
