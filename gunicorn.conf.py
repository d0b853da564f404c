"""Gunicorn settings every `gunicorn` started in this directory reads (Procfile, `make run`, the
benchmark); command-line options override them. For now: the Prometheus multiprocess set-up.

Each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR (default var/prometheus,
under TOLLGATE_VAR_DIR when set) and a scrape of /metrics, answered by any one worker, sums them
all. The directory is emptied when the server starts (a previous run's samples would be summed
in) and a dead worker's live gauges (streams in flight) are dropped when it exits; its counters
stay, so totals never go down when gunicorn replaces a worker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

_var = Path(os.environ.get("TOLLGATE_VAR_DIR") or Path(__file__).resolve().parent / "var")
# Set before any worker imports prometheus_client: it picks its storage when it is imported.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_var / "prometheus")


def on_starting(server: Any) -> None:
    path = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if path.is_dir():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    from config import dbprobe

    dbprobe.start()  # new calls get 503 at once while PostgreSQL is away
