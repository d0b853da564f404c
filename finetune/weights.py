"""Where the trainable weights of a catalog model live on training hosts, and whether Ollama can
load a LoRA adapter trained on them. Plain Python: the web process checks a job's base model at
creation with it, without PyTorch.

`settings.FINETUNE_LORA_BASE_WEIGHTS` maps a catalog model's name to a Hugging Face-format
directory (with its config.json), a hub id already in the training host's cache, or an object
`{"path": ..., "architecture": ...}` where the web hosts cannot see the training hosts' disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from proxy.errors import ApiError

# Ollama converts safetensors LoRA adapters of these architectures (its convert package).
OLLAMA_ADAPTER_ARCHITECTURES = (
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
)


@dataclass(frozen=True)
class BaseWeights:
    model: str
    path: str
    architecture: str


def _entry(model: str) -> dict[str, Any] | None:
    entry = settings.FINETUNE_LORA_BASE_WEIGHTS.get(model)
    if isinstance(entry, str):
        return {"path": entry}
    return entry if isinstance(entry, dict) and entry.get("path") else None


def _architecture(path: str) -> str | None:
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    return architectures[0] if isinstance(architectures, list) and architectures else None


def base_weights(model: str) -> BaseWeights:
    """The weights of catalog model `model`, or 400 naming baseModel: none configured, not
    found, or of an architecture Ollama cannot load an adapter for."""
    entry = _entry(model)
    if entry is None:
        raise ApiError(
            400,
            "base_model_not_trainable",
            f"baseModel: {model!r} has no trainable weights on this deployment's training hosts "
            '(the operator names them in FINETUNE_LORA_BASE_WEIGHTS); use method "modelfile".',
            param="baseModel",
        )
    path = str(entry["path"])
    architecture = _architecture(path) or entry.get("architecture")
    if not architecture:
        raise ApiError(
            400,
            "base_model_not_trainable",
            f"baseModel: the weights of {model!r} were not found (no config.json in the "
            "configured directory).",
            param="baseModel",
        )
    if architecture not in OLLAMA_ADAPTER_ARCHITECTURES:
        raise ApiError(
            400,
            "base_model_not_trainable",
            f"baseModel: {model!r} is a {architecture}; Ollama loads LoRA adapters for "
            "Llama, Mistral and Gemma models only.",
            param="baseModel",
        )
    return BaseWeights(model, path, architecture)
