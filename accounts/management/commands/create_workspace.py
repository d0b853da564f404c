from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import User
from accounts.services import create_workspace
from billing.models import Plan


class Command(BaseCommand):
    help = "Create a workspace with an owner (created if missing) on a plan; prints JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="owner's email")
        parser.add_argument("--plan", required=True, help="plan code, e.g. trial_chat")

    def handle(self, *args: Any, **options: Any) -> None:
        email = options["owner"].strip().lower()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"--owner: {email!r} is not an email address", returncode=2) from exc
        plan = Plan.objects.filter(code=options["plan"]).first()
        if plan is None:
            codes = (
                ", ".join(Plan.objects.values_list("code", flat=True)) or "none; apply a catalog"
            )
            raise CommandError(
                f"--plan: unknown plan {options['plan']!r} (plans: {codes})", returncode=2
            )
        if not options["name"].strip():
            raise CommandError("--name: must not be empty", returncode=2)
        with transaction.atomic():
            owner = User.objects.filter(email=email).first() or User.objects.create_user(
                email=email
            )
            workspace = create_workspace(options["name"], owner, plan)
        self.stdout.write(
            json.dumps({"workspace": str(workspace.pk), "owner": owner.email, "plan": plan.code})
        )
