"""Is PostgreSQL there? Answered from memory, so that asking costs a gateway call nothing.

A web worker (gunicorn's `post_worker_init` starts it) runs one daemon thread that sends
`SELECT 1` on a connection of its own, outside the pool, every DATABASE_PROBE_SECONDS. The
gateway asks `available()` before it authenticates a call: with the database away (the last
probe failed, or no probe has answered for a few periods, as when the network hangs) every new
call is refused with 503 `database_unavailable` at once, whether or not its key happens to be
cached, instead of waiting for the pool's timeout; calls already running go on. Processes that
do not start the probe (tests, management commands, Celery) are always told "available" and
find out from the database itself.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from proxy.errors import ApiError

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


@dataclass
class _State:
    pid: int = 0  # the process whose thread runs (a forked child starts its own)
    up: bool = True
    answered: float = 0.0  # monotonic time of the last answer, either way
    error: str = ""


_state = _State()
_lock = threading.Lock()


def start() -> bool:
    """Start this process's probe (once; PostgreSQL only); whether one runs."""
    if settings.DATABASE_PROBE_SECONDS <= 0:
        return False
    if connections["default"].vendor != "postgresql":
        return False
    with _lock:
        if _state.pid == os.getpid():
            return True
        _state.pid, _state.up, _state.answered = os.getpid(), True, time.monotonic()
    threading.Thread(target=_run, name="database-probe", daemon=True).start()
    return True


def running() -> bool:
    return _state.pid == os.getpid()


def available() -> bool:
    """False when this process's probe saw the database fail, or has not heard from it for
    three periods; True when it answered, or when no probe runs here."""
    if not running():
        return True
    fresh = time.monotonic() - _state.answered < 3 * settings.DATABASE_PROBE_SECONDS + 1
    return _state.up and fresh


class DatabaseUnavailable(ApiError):
    pass


def unavailable() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        503,
        "database_unavailable",
        "The gateway's database is unavailable, so no new call can be accepted right now; "
        "calls already running are not affected. Retry shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def require() -> None:
    """Raise 503 database_unavailable unless the database is available."""
    if not available():
        raise unavailable()


def _connection_params() -> dict:
    params = connections["default"].get_connection_params()
    # Fail within seconds, also when packets vanish rather than being refused.
    params.update(autocommit=True, connect_timeout=2, tcp_user_timeout=2000)
    return params


def _answer(up: bool, error: str = "") -> None:
    if up != _state.up:
        if up:
            log.warning("database reachable again; accepting new calls")
        else:
            log.error("database unreachable (%s); new calls get 503", error)
    _state.up, _state.error, _state.answered = up, error, time.monotonic()


def _run() -> None:
    import psycopg

    conn = None
    while running():
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(**_connection_params())
            conn.execute("SELECT 1").fetchone()
            _answer(True)
        except Exception as exc:
            _answer(False, f"{type(exc).__name__}: {exc}".strip()[:200])
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(settings.DATABASE_PROBE_SECONDS)
