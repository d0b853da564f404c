"""OpenAPI components shared by every endpoint."""

from __future__ import annotations

from rest_framework import serializers


class OpenAIErrorDetail(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField()


class OpenAIError(serializers.Serializer):
    """The OpenAI error shape, used on every endpoint except the Anthropic ones."""

    error = OpenAIErrorDetail()
