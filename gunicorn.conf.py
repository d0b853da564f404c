"""Gunicorn settings every `gunicorn` started in this directory reads (Procfile, `make run`, the
benchmarks, the tests that start servers); command-line options override them. The numbers and
why, below; the figures they rest on are in the README's Benchmark section (2-core machine).

Prometheus multiprocess set-up: each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR
(default var/prometheus, under TOLLGATE_VAR_DIR when set) and a scrape of /metrics, answered by any
one worker, sums them all. The directory is emptied when the server starts (a previous run's
samples would be summed in) and a dead worker's live gauges (streams in flight) are dropped when
it exits; its counters stay, so totals never go down when gunicorn replaces a worker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


# --- Workers and threads --------------------------------------------------------------------
# gthread: the gateway's hot path is synchronous (ARCHITECTURE.md: WSGI + threads measured
# faster here than ASGI) and a call mostly waits on its upstream, so a request holds a thread,
# not a core; a stream holds its thread for as long as the model writes (seconds to minutes).
worker_class = "gthread"
# One process per core: the threads already cover the waiting, processes are for the CPU (the
# GIL lets one process use about one core). More processes only add memory (~an imported Django
# each) and more cold caches (catalog snapshots, key cache, connection pools).
workers = _int("WEB_WORKERS", len(os.sched_getaffinity(0)))
# Threads per worker = streams (and slow calls) a worker holds at once: 1,000 concurrent
# streams on 2 workers need 500 each, plus the health checks and scrapes beside them; 512, and
# worker_connections below keeps a full worker from taking more. Measured (bench/streams_bench.py,
# README: Benchmark): the 512 threads, started at once, cost ~20 kB each (~10 MB a worker); the
# first 1,000 streams on fresh workers grew their PSS by ~90 kB each (buffers, heap and malloc
# arenas, kept afterwards: ~45 MB a worker at 512), later rounds by ~20 kB each. More streams per
# host: raise WEB_THREADS with the memory; one slow upstream call holds a thread just the same.
threads = _int("WEB_THREADS", 512)
# A worker stops accepting at this many open connections, leaving the next ones in the listen
# backlog for a worker with a free thread. Equal to `threads`: a connection accepted beyond them
# would wait for one of the worker's streams to end (seconds to minutes) while another worker
# has free threads; measured with 32 more, 10-19 of 1,000 streams waited 2-8 s for their first
# token. Give --worker-connections with --threads when overriding threads on the command line.
worker_connections = threads

# --- Timeouts -------------------------------------------------------------------------------
# For gthread, `timeout` is not a request timeout: the worker's main loop tells the master it is
# alive every second however long its requests run, so a 10-minute stream is never killed by
# it; it catches a worker whose main loop is stuck. But while a worker drains (after
# max_requests, or old workers after a SIGHUP reload) that loop has ended and no longer
# reports, so the master kills a draining worker after `timeout` seconds whatever
# graceful_timeout says: the drain a stream gets is min(timeout, graceful_timeout). Hence equal.
# 120 s: a long answer (4,000 tokens at 40 tokens/s) finishes; a stream still open then is cut
# and billed for what it delivered (its usage record written as incomplete). The cost: an old
# worker's memory for up to 2 minutes after a reload, and a stuck worker found after 2 minutes.
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 120)
timeout = graceful_timeout
# No keep-alive: gunicorn keeps a connection alive only in the slots that worker_connections
# leaves above threads (none, see above), and an idle kept-alive connection whose next request
# arrives while every thread is busy waits for a thread just like an accepted one. What it costs:
# a TCP connection per call between the load balancer and the web host (nginx talks HTTP/1.0
# to its upstreams unless told otherwise anyway); clients keep theirs alive to the balancer.
keepalive = 0

# --- Worker recycling -----------------------------------------------------------------------
# A worker is replaced (gracefully, as above) after this many requests, bounding slow memory
# growth (fragmentation, caches); the jitter spreads the workers' restarts so that they do not
# all drain and warm up at once. At the ~500 req/s this machine serves, a worker restarts every
# ~7 minutes. Not in the embedded setup (no REDIS_URL): its limits and counters live in the one
# process and would start over at every restart.
if os.environ.get("REDIS_URL"):
    max_requests = _int("WEB_MAX_REQUESTS", 100_000)
    max_requests_jitter = max_requests // 10

# --- Listening socket and request limits ----------------------------------------------------
# Connections waiting to be accepted. A burst of 1,000 stream opens fits; the kernel caps it at
# net.core.somaxconn (4096 on current kernels).
backlog = 2048
# gunicorn's defaults, stated: the longest request line we serve is a usage query (< 1 kB), the
# most headers a browser with the dashboard's cookies (< 40 fields, < 4 kB each). Bodies are
# not gunicorn's: the gateway caps them itself.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The worker heartbeat file on a RAM file system: on a container's overlay /tmp a stalled disk
# write could stall the heartbeat and get a healthy worker killed.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# --- Access log -------------------------------------------------------------------------------
# Request lines can carry secrets (`?api_key=…`, an invitation's or a password reset's token in
# the path): this logger writes them as [redacted] (config/access_log.py).
logger_class = "config.access_log.RedactingLogger"

# --- Reloading --------------------------------------------------------------------------------
# Graceful reload = `kill -HUP <master>`: the master keeps the socket, starts workers that import
# the new code and drains the old ones (graceful_timeout). That needs preload_app off: with it
# on, the app is imported once in the master and a HUP would fork the old code again. Off also
# means nothing opened at import time (database and Redis pools, the dbprobe thread, the
# Prometheus files, which are per pid) is ever shared by forked workers. The price is memory
# (each worker imports Django itself: measured below in the README). Do not use USR2 (a new
# master): its on_starting would empty the metrics directory under the old workers.
preload_app = False

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
    _start_threads(worker)
    _freeze_startup_objects()
    from config import dbprobe

    dbprobe.start()  # new calls get 503 at once while PostgreSQL is away


def _freeze_startup_objects() -> None:
    """Keep the objects of the loaded app (~120,000: Django, the URLconf, the views and what
    they import) out of the garbage collector's full collections: one of those took ~50 ms
    here, holding the GIL, so every call in the worker stalled that long; with a 1-second
    upstream that was most of the 50 ms that p99 may add (bench/rate_bench.py). They live as
    long as the worker anyway."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # import the views and everything they import  # noqa: B018
    gc.collect()
    gc.freeze()


def _start_threads(worker: Any) -> None:
    """Start all of a gthread worker's threads now, not as calls arrive. The pool
    (concurrent.futures.ThreadPoolExecutor) adds a thread only when it counts no idle one, and
    it over-counts (every finished call adds one; a call it takes from its queue never takes one
    away), so under a burst calls queued behind busy threads while the pool was below `threads`:
    measured, 100-140 of 1,000 streams waited 2-8 s for their first token. Started at once, the
    threads cost their memory from the start (README: Benchmark), which then no longer grows."""
    pool = getattr(worker, "tpool", None)
    if pool is None:  # not gthread
        return
    import threading

    count = worker.cfg.threads
    barrier = threading.Barrier(count + 1)  # each call holds a thread until all are running
    for _ in range(count):
        pool.submit(barrier.wait, 30)
    barrier.wait(30)
