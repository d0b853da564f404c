"""Ollama's native API as a dialect, at the site's root: `GET /api/tags`, `POST /api/chat`,
`/api/generate`, `/api/embed`, `/api/embeddings`, `/api/show`, `GET /api/version`, `/api/ps` and
`GET`/`HEAD /` ("Ollama is running" for a client that sends a key). Ollama clients (ollama-python,
Open WebUI, Continue, `codex --oss`) work with the base URL and the key as Bearer or X-API-Key.

- wire.py: requests → canonical bodies (options, format, think, images, tool calls);
- render.py: the OllamaDialect (JSON answers, NDJSON streams, `{"error"}`), model descriptions;
- views.py: thin views through proxy.pipeline.run; schema.py: their OpenAPI pieces.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .. import register
from . import views


def ollama_routes(mount: str) -> list[URLPattern]:
    """Only at the site's root (any other path under /api/ is Ollama's JSON 404: config/urls.py)."""
    if mount:
        return []
    return [
        path("", views.RootView.as_view(), name="ollama-root"),
        path("api/tags", views.TagsView.as_view(), name="ollama-tags"),
        path("api/chat", views.ChatView.as_view(), name="ollama-chat"),
        path("api/generate", views.GenerateView.as_view(), name="ollama-generate"),
        path("api/embed", views.EmbedView.as_view(), name="ollama-embed"),
        path("api/embeddings", views.EmbeddingsView.as_view(), name="ollama-embeddings"),
        path("api/show", views.ShowView.as_view(), name="ollama-show"),
        path("api/ps", views.PsView.as_view(), name="ollama-ps"),
        path("api/version", views.VersionView.as_view(), name="ollama-version"),
    ]


register("ollama", ollama_routes)
