"""One Redis client per process for what the cache API cannot do (streams, scripts)."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

_client: redis.Redis | None = None
_lock = threading.Lock()


def redis_client() -> redis.Redis | None:
    """The shared client, or None in the embedded setup (no REDIS_URL)."""
    global _client
    if not settings.REDIS_URL:
        return None
    if _client is None:
        with _lock:
            if _client is None:
                # Blocking: a thread waits (up to 2 s) for a free connection. The plain pool
                # raised "Too many connections" past 256, which reads as Redis unreachable
                # (degraded mode): 500 streams of a worker ending together did that, leaving
                # hundreds of calls in the in-flight set (bench/streams_bench.py).
                pool = redis.BlockingConnectionPool.from_url(
                    settings.REDIS_URL,
                    socket_connect_timeout=1,
                    socket_timeout=2,
                    health_check_interval=30,
                    max_connections=256,
                    timeout=2,
                )
                _client = redis.Redis(connection_pool=pool)
    return _client
