"""Gateway routes, composed from the dialects' registry (proxy/dialects/__init__.py): the
OpenAI- and Anthropic-compatible ones under both /v1/ and /api/v1/, Ollama's at the root."""

from __future__ import annotations

from .dialects import routes

root_patterns = routes("")
v1_patterns = routes("v1/")
api_v1_patterns = routes("api/v1/")
