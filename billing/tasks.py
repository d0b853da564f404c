"""Celery tasks of billing: the sweep of streams whose web process died."""

from __future__ import annotations

from celery import shared_task

from . import lost_streams


@shared_task(name="billing.sweep_lost_streams", ignore_result=True)
def sweep_lost_streams() -> int:
    return lost_streams.sweep()
