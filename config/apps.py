from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class ConfigConfig(AppConfig):
    """Holds project-wide management commands (serve) and deployment checks."""

    name = "config"
    verbose_name = "Tollgate"

    def ready(self) -> None:
        from . import checks as tollgate_checks

        checks.register(tollgate_checks.console_email, checks.Tags.security, deploy=True)
