"""Set up the database of the real-clients gateway (tests/clients/conftest.py), as an operator
would: migrate, apply the default catalog (its upstream is OLLAMA_BASE_URL: the fake upstream),
give the `enterprise` plan every scope (local models included), and make two workspaces with a
key each. Run in a subprocess with the gateway's environment:

    python -m tests.clients.gateway_setup

Prints `{"main": {"workspace", "key"}, "other": {"workspace", "key"}}` as JSON.
"""

from __future__ import annotations

import io
import json

import django


def run(command: str, *args: str) -> dict:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return json.loads(out.getvalue())


def main() -> dict[str, dict[str, str]]:
    from django.core.management import call_command

    from billing.catalog import DEFAULT_CATALOG
    from billing.models import SCOPES, Plan

    call_command("migrate", verbosity=0)
    call_command("apply_catalog", str(DEFAULT_CATALOG), stdout=io.StringIO())
    Plan.objects.filter(code="enterprise").update(scopes=list(SCOPES))
    made = {}
    for name, plan in (("main", "enterprise"), ("other", "enterprise")):
        owner = f"{name}@clients.test"
        created = run("create_workspace", "--name", name, "--owner", owner, "--plan", plan)
        issued = run("create_api_key", "--workspace", created["workspace"], "--name", "clients")
        made[name] = {"workspace": created["workspace"], "key": issued["key"]}
    return made


if __name__ == "__main__":
    django.setup()
    print(json.dumps(main()))
