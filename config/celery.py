from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The beat's housekeeping runs every 15-30 s; its "sending due task", "received" and
# "succeeded" lines would bury everything else `make run` prints. Warnings and errors stay.
HOUSEKEEPING_TASKS = (
    "billing.sweep_lost_streams",
    "finetune.reap_stale_jobs",
    "accounts.send_usage_alerts",
)


class HousekeepingFilter(logging.Filter):
    """Drops INFO (and lower) lines about the periodic housekeeping tasks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(task in message for task in HOUSEKEEPING_TASKS)


for _name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_name).addFilter(HousekeepingFilter())
