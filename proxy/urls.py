"""Gateway routes. The OpenAI- and Anthropic-compatible ones are served under both /v1/ and
/api/v1/."""

from __future__ import annotations

from django.urls import path

from . import views


def openai_routes(prefix: str, rich_models: bool) -> list:
    models_view = views.RichModelsView if rich_models else views.ModelsView
    detail_view = views.RichModelDetailView if rich_models else views.ModelDetailView
    return [
        path(
            "chat/completions",
            views.ChatCompletionsView.as_view(),
            name=f"{prefix}chat-completions",
        ),
        path("completions", views.CompletionsView.as_view(), name=f"{prefix}completions"),
        path("embeddings", views.EmbeddingsView.as_view(), name=f"{prefix}embeddings"),
        path("models", models_view.as_view(), name=f"{prefix}models"),
        path("models/<path:model_id>", detail_view.as_view(), name=f"{prefix}model"),
    ]


def anthropic_routes(prefix: str) -> list:
    return [
        path("messages", views.MessagesView.as_view(), name=f"{prefix}messages"),
        path(
            "messages/count_tokens",
            views.CountTokensView.as_view(),
            name=f"{prefix}messages-count-tokens",
        ),
    ]


v1_patterns = [*openai_routes("v1-", rich_models=False), *anthropic_routes("v1-")]
api_v1_patterns = [
    *openai_routes("api-v1-", rich_models=True),
    *anthropic_routes("api-v1-"),
    path("chat", views.ApiChatView.as_view(), name="api-v1-chat"),
    path("chat/stream", views.ApiChatStreamView.as_view(), name="api-v1-chat-stream"),
    path("generate", views.GenerateView.as_view(), name="api-v1-generate"),
]
