"""The gateway's periodic jobs."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="proxy.purge_stored_responses", ignore_result=True)
def purge_stored_responses() -> int:
    """Stored Responses API answers past RESPONSES_RETENTION_DAYS (beat, hourly)."""
    from .dialects.responses.store import purge

    return purge()
