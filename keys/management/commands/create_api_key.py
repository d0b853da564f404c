from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.services import find_workspace
from keys.services import InvalidKeyRequest, issue_key


class Command(BaseCommand):
    help = "Issue an API key for a workspace; prints {id, key} as JSON (the key is shown once)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="workspace id (or slug)")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", help="comma-separated; default: all of the plan's")
        parser.add_argument("--expires-in", type=int, help="seconds until the key expires")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["workspace"]
        workspace = find_workspace(ref)
        if workspace is None:
            raise CommandError(f"--workspace: no workspace {ref!r}", returncode=2)
        scopes = None
        if options["scopes"] is not None:
            scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        expires_at = None
        if options["expires_in"] is not None:
            if options["expires_in"] < 1:
                raise CommandError(
                    "--expires-in: must be a positive number of seconds", returncode=2
                )
            expires_at = timezone.now() + timedelta(seconds=options["expires_in"])
        try:
            issued = issue_key(workspace, options["name"], scopes=scopes, expires_at=expires_at)
        except InvalidKeyRequest as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self.stdout.write(json.dumps({"id": str(issued.key.pk), "key": issued.secret}))
