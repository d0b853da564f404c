"""Upstream clients. Each kind turns a canonical (OpenAI-shaped) call into its wire format."""

from __future__ import annotations

from .anthropic import AnthropicProvider
from .base import Provider, UpstreamFailure, UpstreamStream
from .openai import OllamaProvider, OpenAIProvider

PROVIDERS: dict[str, Provider] = {
    "openai": OpenAIProvider(),
    "ollama": OllamaProvider(),
    "anthropic": AnthropicProvider(),
}


def provider_for(kind: str) -> Provider:
    try:
        return PROVIDERS[kind]
    except KeyError:
        raise UpstreamFailure("config", f"no provider for upstream kind {kind!r}") from None


__all__ = ["PROVIDERS", "Provider", "UpstreamFailure", "UpstreamStream", "provider_for"]
