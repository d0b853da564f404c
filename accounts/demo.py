"""Whether the gateway answers with the demo upstream (bench/fake_upstream), whose replies are
placeholder words: `make run` starts it when no OLLAMA_BASE_URL is configured."""

from __future__ import annotations

from django.conf import settings


def demo_upstream() -> bool:
    return not settings.OLLAMA_BASE_URL
