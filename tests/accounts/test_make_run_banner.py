"""What `make run` prints for a newcomer: the sign-up, dashboard, docs and admin addresses, the
createsuperuser hint, the demo upstream's placeholder answers; and the beat's housekeeping lines
every 15 s do not bury it."""

from __future__ import annotations

import logging

from config.celery import HousekeepingFilter
from config.management.commands.serve import banner


def test_it_prints_where_to_start(settings) -> None:
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"

    text = banner(demo=True)

    for line in (
        "Tollgate is up: http://127.0.0.1:8000/",
        "Sign up:    http://127.0.0.1:8000/accounts/signup/",
        "API docs:   http://127.0.0.1:8000/api/v1/docs",
        "Admin:      http://127.0.0.1:8000/admin/",
        "manage.py createsuperuser",
        "placeholder words",
    ):
        assert line in text
    assert "placeholder" not in banner(demo=False)


def record(name: str, level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_it_keeps_the_housekeeping_tasks_out_of_the_log_but_not_their_failures() -> None:
    quiet = HousekeepingFilter()
    due = record(
        "celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)",
        "sweep-lost-streams", "billing.sweep_lost_streams",
    )  # fmt: skip
    done = record("celery.app.trace", logging.INFO, "Task finetune.reap_stale_jobs[1] succeeded")
    failed = record("celery.app.trace", logging.ERROR, "Task billing.sweep_lost_streams[2] raised")
    job = record("celery.app.trace", logging.INFO, "Task finetune.run_job[3] succeeded")

    assert [quiet.filter(r) for r in (due, done, failed, job)] == [False, False, True, True]
