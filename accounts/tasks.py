"""Celery tasks of accounts: the usage alerts' e-mails (billing.alerts), every few minutes."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.send_usage_alerts", ignore_result=True)
def send_usage_alerts() -> int:
    from billing.alerts import send_due_alerts

    return send_due_alerts()
