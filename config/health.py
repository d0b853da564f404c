"""Liveness of what the gateway depends on: database, cache, broker."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection


def check_database() -> None:
    from config import dbprobe

    dbprobe.require()  # the probe saw it go: say so at once, not after the pool's timeout
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    cache.set("health:probe", "ok", timeout=10)
    if cache.get("health:probe") != "ok":
        raise RuntimeError("cache did not return what was written")


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def health_report() -> tuple[bool, dict]:
    """(all up, {name: {"status": "up"|"down", "ms": …, "error"?: …}})."""
    report: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            report[name] = {"status": "up"}
        except Exception as exc:
            report[name] = {"status": "down", "error": type(exc).__name__}
        report[name]["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return all(item["status"] == "up" for item in report.values()), report
