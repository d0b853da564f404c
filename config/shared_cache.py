"""The shared cache as the hot path uses it: if Redis is unreachable, reads miss and writes are
dropped (logged at most once a minute) instead of failing the request. Authentication then
falls back to the database, and cool-downs and snapshots to each process's own view."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

log = logging.getLogger(__name__)
_last_warning = 0.0


def _degraded(exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        log.warning(
            "shared cache unavailable (%s: %s); serving without it", type(exc).__name__, exc
        )


def _safely(name: str, fallback: Any) -> Callable:
    """cache.<name>, looked up at each call (Django's cache objects are per thread)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(cache, name)(*args, **kwargs)
        except ValueError:  # incr of a missing key: the caller's business
            raise
        except Exception as exc:
            _degraded(exc)
            return fallback(*args, **kwargs) if callable(fallback) else fallback

    return call


def _default(key: str, default: Any = None, **_: Any) -> Any:
    return default() if callable(default) else default


class SharedCache:
    get = staticmethod(_safely("get", _default))
    get_many = staticmethod(_safely("get_many", {}))
    set = staticmethod(_safely("set", None))
    add = staticmethod(_safely("add", False))
    delete = staticmethod(_safely("delete", False))
    incr = staticmethod(_safely("incr", None))
    get_or_set = staticmethod(_safely("get_or_set", _default))

    @staticmethod
    def bump(key: str, timeout: float | None = None) -> int:
        """Add one to a counter, creating it at 1; the new value (0 if the cache is away)."""
        shared.add(key, 0, timeout=timeout)
        try:
            return shared.incr(key) or 0
        except ValueError:  # expired between the two calls
            shared.set(key, 1, timeout=timeout)
            return 1


shared = SharedCache()
