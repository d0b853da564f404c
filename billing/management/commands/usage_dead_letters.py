from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from billing import usage_queue


class Command(BaseCommand):
    help = (
        "The usage records the database refused (the dead-letter stream): list them, replay them "
        "(write them again, e.g. after a fix) or drop them for good."
    )

    def add_arguments(self, parser: Any) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--replay", action="store_true", help="write them again")
        action.add_argument("--drop", action="store_true", help="delete them for good")
        parser.add_argument("ids", nargs="*", help="dead-letter ids (default: all)")
        parser.add_argument("--all", action="store_true", help="required by --drop without ids")
        parser.add_argument("--limit", type=int, default=100, help="how many to list")

    def handle(self, *args: Any, **options: Any) -> None:
        if usage_queue.redis_client() is None:
            raise CommandError("no REDIS_URL: usage records are written at once, nothing waits")
        ids = options["ids"] or None
        if options["replay"]:
            written, refused = usage_queue.replay_dead_letters(ids)
            self.stdout.write(f"{written} replayed, {refused} refused again")
        elif options["drop"]:
            if ids is None and not options["all"]:
                raise CommandError("name the ids to drop, or pass --all")
            self.stdout.write(f"{usage_queue.drop_dead_letters(ids)} dropped")
        else:
            letters = usage_queue.dead_letters(options["limit"])
            for letter in letters:
                self.stdout.write(f"{letter['id']}  {letter['reason']}\n    {letter['record']}")
            self.stdout.write(f"{usage_queue.dead_letter_count() or 0} dead letter(s)")
