from __future__ import annotations

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds project-wide management commands (serve)."""

    name = "config"
    verbose_name = "Tollgate"
