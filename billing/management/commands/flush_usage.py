from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from billing.usage_queue import flush_batch


class Command(BaseCommand):
    help = "Move usage records from the Redis stream into the database, in batches, for ever."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="flush what is there, then stop")
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        total = 0
        while not stopping:
            try:
                moved = flush_batch(
                    count=options["batch"], block_ms=None if options["once"] else 1000
                )
            except Exception as exc:  # the database or Redis is away: wait, the data waits too
                if options["once"]:
                    raise CommandError(f"flush failed: {type(exc).__name__}: {exc}") from exc
                self.stderr.write(f"flush failed ({type(exc).__name__}: {exc}); retrying")
                close_old_connections()
                time.sleep(1)
                continue
            total += moved
            if options["once"] and not moved:
                break
        self.stdout.write(f"{total} usage record(s) written")
