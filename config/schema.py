"""Examples for the OpenAPI document of the health endpoint (config.views.HealthView)."""

from __future__ import annotations

HEALTHY = {
    "status": "ok",
    "checks": {
        "database": {"status": "up", "ms": 0.09},
        "cache": {"status": "up", "ms": 0.05},
        "broker": {"status": "up", "ms": 7.35},
    },
}
DEGRADED = {
    "status": "degraded",
    "checks": {
        "database": {"status": "up", "ms": 0.11},
        "cache": {"status": "down", "error": "ConnectionError", "ms": 2.4},
        "broker": {"status": "up", "ms": 6.9},
    },
}
