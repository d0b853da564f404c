from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing.catalog import CatalogInvalid, apply_file


class Command(BaseCommand):
    help = (
        "Upsert the catalog sections present in a YAML file (settings, plans, upstreams, models)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="catalog YAML file, e.g. config/catalog.yaml")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="remove entries of the present sections not in the file",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            changes = apply_file(options["file"], prune=options["prune"])
        except CatalogInvalid as exc:
            for fault in exc.faults:
                self.stderr.write(fault)
            raise CommandError(
                f"{len(exc.faults)} fault(s) in {options['file']}; nothing applied.", returncode=2
            ) from exc
        for line in changes:
            self.stdout.write(line)
        self.stdout.write(f"{len(changes)} change(s)" if changes else "no changes")
