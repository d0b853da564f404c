"""OpenAPI description of API-key authentication: both schemes, either one suffices."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "keys.authentication.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list]]:
        return [{name: []} for name in self.name]  # either header is enough

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Authorization: Bearer sk-tg-…",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "X-API-Key: sk-tg-… (Anthropic clients send x-api-key; same header)",
            },
        ]


# GET /api/v1/key, as it answers for a key of a workspace on the chat_agent plan.
KEY_INFO = {
    "id": "084c9e54-6a39-4948-bb07-3ebd312efb92",
    "name": "ci",
    "workspace": "83e2067a-8006-48a2-8e5d-59d802ed6cf7",
    "plan": "chat_agent",
    "scopes": ["chat", "chat_agent"],
    "expires_at": None,
    "default_tier": "",
}
