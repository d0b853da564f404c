from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.services import find_workspace
from billing.ledger import grant


class Command(BaseCommand):
    help = "Add to a workspace's prepaid balance (a ledger entry); prints the new balance as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workspace", required=True, help="workspace id (or slug)")
        parser.add_argument("--amount", required=True, help="USD, e.g. 10 or 2.50")
        parser.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["workspace"]
        workspace = find_workspace(ref)
        if workspace is None:
            raise CommandError(f"--workspace: no workspace {ref!r}", returncode=2)
        try:
            amount = Decimal(options["amount"])
        except InvalidOperation as exc:
            raise CommandError("--amount: must be a number", returncode=2) from exc
        if not amount.is_finite() or amount <= 0:
            raise CommandError("--amount: must be a positive number", returncode=2)
        if not options["reason"].strip():
            raise CommandError("--reason: must not be empty", returncode=2)
        entry = grant(workspace, amount.quantize(Decimal("0.000001")), options["reason"])
        self.stdout.write(
            json.dumps(
                {
                    "workspace": str(workspace.pk),
                    "amount": str(entry.amount),
                    "balance": str(entry.balance_after),
                }
            )
        )
