"""Celery tasks of fine-tuning: a job's run, and the reaper of jobs whose worker died."""

from __future__ import annotations

from celery import shared_task

from . import runner


@shared_task(name="finetune.run_job", acks_late=True)
def run_job(job_id: str) -> None:
    runner.run_job(job_id)


@shared_task(name="finetune.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs() -> int:
    return runner.reap_stale_jobs()
