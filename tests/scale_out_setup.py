"""Set up the shared database for tests/test_scale_out.py, as an operator would: migrate, apply a
catalog, create workspaces on plans and their keys, with the management commands. Run in a
subprocess with the web hosts' environment (DATABASE_URL, REDIS_URL, DEBUG=0, ...):

    python -m tests.scale_out_setup <catalog.yaml> <password> <name>=<plan> [<name>=<plan> ...]

Prints `{name: {"workspace", "slug", "owner", "key", "key_id"}}` as JSON. Each owner gets
`password`, so that the dashboard can be used with it.
"""

from __future__ import annotations

import io
import json
import sys

import django


def run(command: str, *args: str) -> dict:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return json.loads(out.getvalue())


def main(catalog: str, password: str, workspaces: list[str]) -> dict[str, dict[str, str]]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("apply_catalog", catalog, stdout=io.StringIO())

    from accounts.models import User, Workspace

    made: dict[str, dict[str, str]] = {}
    for spec in workspaces:
        name, plan = spec.split("=", 1)
        owner = f"{name}@scale-out.test"
        created = run("create_workspace", "--name", name, "--owner", owner, "--plan", plan)
        issued = run("create_api_key", "--workspace", created["workspace"], "--name", "scale-out")
        user = User.objects.get(email=owner)
        user.set_password(password)
        user.save(update_fields=["password"])
        made[name] = {
            "workspace": created["workspace"],
            "slug": Workspace.objects.get(pk=created["workspace"]).slug,
            "owner": owner,
            "key": issued["key"],
            "key_id": issued["id"],
        }
    return made


if __name__ == "__main__":
    django.setup()
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3:])))
