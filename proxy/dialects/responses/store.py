"""Stored responses (`store: true`): kept per workspace for RESPONSES_RETENTION_DAYS, written
once the answer has been delivered (never before the client has it), read by
`previous_response_id`, GET and DELETE. Another workspace's id is the same 404 as a missing one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404
from django.utils import timezone

from ...errors import ApiError
from ...models import StoredResponse

log = logging.getLogger(__name__)


def not_found(response_id: str) -> ApiError:
    return ApiError(404, "not_found", f"Response with id '{response_id}' not found.")


def keep(workspace_id: str, response: dict[str, Any], input_items: list[dict[str, Any]]) -> None:
    """Store an answer the client has received. A failure is logged, never the client's."""
    try:
        StoredResponse.objects.create(
            id=response["id"],
            workspace_id=workspace_id,
            response=response,
            input_items=input_items,
        )
    except DatabaseError:
        log.exception("could not store response %s", response.get("id"))


def get(workspace_id: str, response_id: str) -> StoredResponse:
    try:
        return StoredResponse.objects.get_owned(workspace_id, pk=response_id)
    except Http404:
        raise not_found(response_id) from None


def delete(workspace_id: str, response_id: str) -> None:
    deleted, _ = StoredResponse.objects.for_workspace(workspace_id).filter(pk=response_id).delete()
    if not deleted:
        raise not_found(response_id)


def history(workspace_id: str, response_id: str) -> list[dict[str, Any]]:
    """The conversation up to and including a stored response, as input items."""
    try:
        stored = get(workspace_id, response_id)
    except ApiError:
        raise ApiError(
            400,
            "previous_response_not_found",
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
        ) from None
    return [*stored.input_items, *as_input(stored.response.get("output") or [])]


def as_input(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Output items as the input items that replay them (reasoning left out: chat models do not
    take it back)."""
    return [item for item in output if isinstance(item, dict) and item.get("type") != "reasoning"]


def purge(now: Any = None) -> int:
    """Delete stored responses older than the retention period; how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RESPONSES_RETENTION_DAYS)
    deleted, _ = StoredResponse.objects.filter(created_at__lt=cutoff).delete()
    return deleted
