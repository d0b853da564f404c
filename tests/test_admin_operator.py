"""The operator's Django admin: every page renders with data, lists do not query per row, every
action does what it says, usage records are read-only, and a plan edited in the admin is what
the gateway enforces."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.services import create_workspace
from billing.ledger import generate_codes, grant
from billing.models import Balance, LedgerEntry, Plan, RedemptionCode, UsageRecord
from finetune.models import Dataset, Job, State
from keys.authentication import KeyResolver
from keys.models import ApiKey
from keys.services import issue_key
from proxy.models import Deployment, Model, Upstream, UpstreamKind

from .conftest import _user
from .proxy.conftest import (  # noqa: F401 - the gateway's fixtures, shared
    _keep_the_test_connection,
    _reset_upstreams,
    add_upstream,
    gateway,
    upstream,
)

# The fake upstream and the gateway's catalog are asked for by name (request.getfixturevalue).

CHAT = "/v1/chat/completions"


@pytest.fixture
def operator(client, db) -> User:
    user = User.objects.create_superuser(email="op@tollgate.test", password="x" * 20)
    client.force_login(user)
    return user


@dataclass
class Rows:
    """One of everything the operator manages, for a workspace of its own."""

    workspace: object
    upstream: Upstream
    model: Model
    deployment: Deployment
    key: ApiKey
    entry: LedgerEntry
    code: RedemptionCode
    record: UsageRecord
    dataset: Dataset
    job: Job


def one_of_each(n: int, operator: User) -> Rows:
    workspace = create_workspace(
        f"Shop {n}", _user(f"o{n}@shop.test"), Plan.objects.get(code="payg")
    )
    private = Upstream.objects.create(
        name=f"home-{n}",
        kind=UpstreamKind.OLLAMA,
        base_url="http://127.0.0.1:1",
        workspace=workspace,
    )
    model = Model.objects.create(name=f"local/m{n}", workspace=workspace)
    deployment = Deployment.objects.create(model=model, upstream=private, upstream_model=f"m{n}")
    now = timezone.now()
    record = UsageRecord.objects.create(
        call_id=f"call-{n}", request_id=f"req-{n}", workspace=workspace, endpoint="chat",
        dialect="openai", served_model=model.name, deployment_id=deployment.pk, status=200,
        latency_ms=10, started_at=now, finished_at=now,
    )  # fmt: skip
    dataset = Dataset.objects.create(
        workspace=workspace, title=f"set {n}", file=ContentFile(b"{}\n", name=f"d{n}.jsonl")
    )
    return Rows(
        workspace=workspace,
        upstream=private,
        model=model,
        deployment=deployment,
        key=issue_key(workspace, f"key {n}").key,
        entry=grant(workspace, Decimal("2"), f"ticket {n}", by=operator),
        code=RedemptionCode.objects.get(
            code=generate_codes(1, Decimal("5"), batch=f"b{n}").codes[0]
        ),
        record=record,
        dataset=dataset,
        job=Job.objects.create(workspace=workspace, dataset=dataset, base_model="llama3.2"),
    )


@pytest.fixture
def rows(catalog, operator, settings, tmp_path) -> Rows:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return one_of_each(1, operator)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def pages(rows: Rows) -> dict[str, object]:
    """Admin path of each model → one object of it."""
    return {
        "billing/plan": Plan.objects.get(code="payg"),
        "billing/subscription": rows.workspace.subscription,
        "billing/balance": Balance.objects.get(workspace=rows.workspace),
        "billing/ledgerentry": rows.entry,
        "billing/redemptioncode": rows.code,
        "billing/usagerecord": rows.record,
        "accounts/workspace": rows.workspace,
        "accounts/user": rows.entry.created_by,
        "keys/apikey": rows.key,
        "proxy/upstream": rows.upstream,
        "proxy/model": rows.model,
        "proxy/deployment": rows.deployment,
        "finetune/dataset": rows.dataset,
        "finetune/job": rows.job,
    }


FILTERS = {  # one filter or search of each list, as an operator would use it
    "billing/plan": "prepaid__exact=1",
    "billing/subscription": "status__exact=active",
    "billing/balance": "q=Shop",
    "billing/ledgerentry": "kind__exact=grant&q=ticket",
    "billing/redemptioncode": "state=open&batch=b1",
    "billing/usagerecord": "outcome=ok&q=req-1",
    "accounts/workspace": "q=o1@shop.test",
    "accounts/user": "is_staff__exact=1",
    "keys/apikey": "status=active&q=shop-1",
    "proxy/upstream": "owner=workspace&kind__exact=ollama",
    "proxy/model": "owner=workspace&q=local",
    "proxy/deployment": "is_active__exact=1&q=m1",
    "finetune/dataset": "q=set",
    "finetune/job": "state__exact=pending",
}


def test_it_renders_every_list_and_change_page_with_data(client, rows) -> None:
    for path, obj in pages(rows).items():
        listing = client.get(f"/admin/{path}/")
        assert listing.status_code == 200, path
        filtered = client.get(f"/admin/{path}/?{FILTERS[path]}")
        assert filtered.status_code == 200, path
        assert filtered.context["cl"].result_count >= 1, path  # the filter keeps the row
        change = client.get(f"/admin/{path}/{obj.pk}/change/")
        assert change.status_code == 200, path
    index = client.get("/admin/")
    assert b'href="/admin/status/"' in index.content


def test_it_does_not_query_per_row_in_any_list(client, rows, operator) -> None:
    def counts() -> dict[str, int]:
        found = {}
        for path in pages(rows):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(f"/admin/{path}/").status_code == 200
            found[path] = len(queries)
        return found

    before = counts()
    for n in (2, 3, 4):
        one_of_each(n, operator)
    assert counts() == before


def test_it_shows_usage_records_read_only(client, rows) -> None:
    record = rows.record
    listing = client.get("/admin/billing/usagerecord/")
    assert b"req-1" in listing.content and b"home-1" in listing.content  # its upstream's name
    assert b"/admin/billing/usagerecord/add/" not in listing.content
    assert client.get("/admin/billing/usagerecord/add/").status_code == 403
    view = client.get(f"/admin/billing/usagerecord/{record.pk}/change/")
    assert view.status_code == 200 and b'name="_save"' not in view.content
    changed = client.post(
        f"/admin/billing/usagerecord/{record.pk}/change/", {"status": "500", "latency_ms": "1"}
    )
    assert changed.status_code == 403
    assert client.post(f"/admin/billing/usagerecord/{record.pk}/delete/").status_code == 403
    bulk = client.post(
        "/admin/billing/usagerecord/",
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    record.refresh_from_db()
    assert (record.status, record.latency_ms) == (200, 10)
    by_upstream = client.get(f"/admin/billing/usagerecord/?upstream={rows.upstream.pk}")
    assert by_upstream.context["cl"].result_count == 1


def test_it_revokes_a_key_and_the_api_refuses_it(client, rows) -> None:
    issued = issue_key(rows.workspace, "leaked")
    assert client.get("/api/v1/key", HTTP_X_API_KEY=issued.secret).status_code == 200  # cached
    response = client.post(
        "/admin/keys/apikey/",
        {"action": "revoke", "_selected_action": [issued.key.pk, rows.key.pk]},
        follow=True,
    )
    assert "Revoked 2 key(s)" in messages_of(response)[0]
    refused = client.get("/api/v1/key", HTTP_X_API_KEY=issued.secret)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]
    again = client.post(
        "/admin/keys/apikey/",
        {"action": "revoke", "_selected_action": [issued.key.pk]},
        follow=True,
    )
    assert "Revoked 0 key(s) (1 already revoked)" in messages_of(again)[0]
    listing = client.get("/admin/keys/apikey/?status=revoked")
    assert listing.context["cl"].result_count == 2


def test_it_imports_ollama_models_from_the_upstream_list(client, operator, request) -> None:
    ollama = add_upstream(request.getfixturevalue("upstream"), "gpu-box")
    remote = Upstream.objects.create(
        name="remote", kind=UpstreamKind.OPENAI, base_url="http://127.0.0.1:1/v1"
    )
    response = client.post(
        "/admin/proxy/upstream/",
        {"action": "import_models", "_selected_action": [ollama.pk, remote.pk]},
        follow=True,
    )
    said = messages_of(response)
    assert any(m.startswith("gpu-box: ") and "llama3.2" in m for m in said), said
    assert "remote: not an Ollama upstream, skipped" in said
    deployment = Deployment.objects.get(upstream=ollama, model__name="llama3.2")
    assert deployment.upstream_model == "llama3.2:latest"
    assert Model.objects.get(name="nomic-embed-text").kind == "embedding"
    again = client.post(
        "/admin/proxy/upstream/",
        {"action": "import_models", "_selected_action": [ollama.pk]},
        follow=True,
    )
    assert messages_of(again) == ["gpu-box: 0 model(s) added (the catalog had them all)"]


def test_it_cancels_a_job_from_the_job_list(client, rows) -> None:
    done = Job.objects.create(
        workspace=rows.workspace, dataset=rows.dataset, base_model="llama3.2", state=State.SUCCEEDED
    )
    response = client.post(
        "/admin/finetune/job/",
        {"action": "cancel", "_selected_action": [rows.job.pk, done.pk]},
        follow=True,
    )
    assert messages_of(response) == ["1 job(s) cancelled; 1 had already finished."]
    rows.job.refresh_from_db()
    done.refresh_from_db()
    assert (rows.job.state, done.state) == (State.CANCELLED, State.SUCCEEDED)


def plan_form(plan: Plan, **changes) -> dict[str, Any]:
    """The admin change form of `plan` as the browser would submit it, with `changes`."""
    data = {}
    for field in Plan._meta.concrete_fields:
        if field.primary_key:
            continue
        value = changes.get(field.name, getattr(plan, field.name))
        if field.name == "model_patterns":  # a pick-list of models plus free patterns
            data["more_patterns"] = ", ".join(value)
        elif field.get_internal_type() == "JSONField":  # scopes, tiers: checkboxes
            data[field.name] = list(value)
        elif field.get_internal_type() == "BooleanField":
            if value:
                data[field.name] = "on"
        else:
            data[field.name] = "" if value is None else str(value)
    return data


def chat(client, key):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    return client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def test_it_enforces_a_plan_rpm_changed_in_the_admin(client, key_a, operator, request) -> None:
    """The web process that saves the plan drops its cache at once; another process (a resolver
    of its own) follows within its local cache window, without anyone clearing a cache."""
    request.getfixturevalue("gateway")
    elsewhere = KeyResolver(local_seconds=5)
    plan = key_a.key.workspace.subscription.plan
    first = chat(client, key_a)
    assert first.status_code == 200 and first["X-RateLimit-Limit"] == str(plan.rpm)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert elsewhere.resolve(key_a.secret).plan.rpm == plan.rpm
        saved = client.post(f"/admin/billing/plan/{plan.pk}/change/", plan_form(plan, rpm=2))
        assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
        second = chat(client, key_a)
        assert second.status_code == 200 and second["X-RateLimit-Limit"] == "2"
        third = chat(client, key_a)
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "rate_limit_exceeded"
        assert elsewhere.resolve(key_a.secret).plan.rpm == plan.rpm  # within its 5 s
    with time_machine.travel(start + timedelta(seconds=6), tick=False):
        assert elsewhere.resolve(key_a.secret).plan.rpm == 2


def test_it_edits_a_plans_scopes_models_and_tiers_with_checkboxes(client, operator, request):
    request.getfixturevalue("gateway")
    plan = Plan.objects.get(code="paid_chat")
    form = client.get(f"/admin/billing/plan/{plan.pk}/change/").content.decode()
    assert 'type="checkbox" name="scopes" value="chat_agent"' in form
    assert 'type="checkbox" name="models" value="llama3.2"' in form
    assert 'type="checkbox" name="tiers" value="fast"' in form
    assert form.count("Blank = unlimited.") >= 6
    assert '["chat"]' not in form  # no raw JSON to type

    data = plan_form(plan, scopes=["chat", "chat_agent"], tiers=["fast"], model_patterns=[])
    data.update(models=["llama3.2"], more_patterns="qwen*")
    saved = client.post(f"/admin/billing/plan/{plan.pk}/change/", data)

    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    plan.refresh_from_db()
    assert (plan.scopes, plan.tiers, plan.model_patterns) == (
        ["chat", "chat_agent"],
        ["fast"],
        ["llama3.2", "qwen*"],
    )
    listing = client.get("/admin/billing/plan/").content.decode()
    assert "css/admin_plans.css" in listing  # the code column stays in view


def test_it_charts_each_upstreams_calls_per_minute_on_the_status_page(
    client, key_a, operator, request
) -> None:
    request.getfixturevalue("gateway")
    assert chat(client, key_a).status_code == 200

    html = client.get("/admin/status/").content.decode()

    charts = html[html.index('id="status-charts"') :]
    block = charts[charts.index('data-upstream="fake-ollama"') :]
    block = block[: block.index("</figure>")]
    assert "Calls per minute" in block and block.count("<rect") == 1
    assert 'class="chart-y' in block and "answered" in block
    assert "css/charts.css" in html
