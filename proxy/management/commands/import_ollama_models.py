from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from proxy.models import Upstream
from proxy.services import ImportFailed, import_ollama_models


class Command(BaseCommand):
    help = "Add the models an Ollama upstream serves (GET /api/tags) to the catalog."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--upstream", required=True, help="the upstream's name")

    def handle(self, *args: Any, **options: Any) -> None:
        upstream = Upstream.objects.filter(name=options["upstream"], workspace=None).first()
        if upstream is None:
            raise CommandError(
                f"--upstream: no upstream named {options['upstream']!r}", returncode=2
            )
        try:
            added = import_ollama_models(upstream)
        except ImportFailed as exc:
            raise CommandError(str(exc), returncode=1) from exc
        for name in added:
            self.stdout.write(f"model {name}: added")
        self.stdout.write(f"{len(added)} model(s) added")
