from __future__ import annotations

from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "proxy"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from . import catalog, signals  # noqa: F401  (catalog sections; cache invalidation)
