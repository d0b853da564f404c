"""The operator's status page (/admin/status/): traffic, error rate and latency per upstream
from the usage records, errors by code, and the deployments cooling down right now."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from billing.models import UsageRecord
from proxy.models import Deployment, Model, Upstream, UpstreamKind

STATUS = "/admin/status/"


@pytest.fixture
def operator(client, db) -> User:
    user = User.objects.create_user(email="ops@tollgate.test", password="x" * 20, is_staff=True)
    client.force_login(user)
    return user


def record(n: int, workspace, deployment: Deployment | None, *, minutes_ago: float, **extra):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    fields = {"status": 200, "latency_ms": 10, **extra}
    return UsageRecord.objects.create(
        call_id=f"c{n}", request_id=f"r{n}", workspace=workspace, endpoint="chat", dialect="openai",
        deployment_id=deployment.pk if deployment else None, started_at=started,
        finished_at=started + timedelta(milliseconds=fields["latency_ms"]), **fields,
    )  # fmt: skip


def figure(html: str, upstream: str, name: str) -> str:
    """The text of one figure cell in the row of `upstream`."""
    row = re.search(rf'<tr data-upstream="{re.escape(upstream)}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {upstream}"
    cell = re.search(rf'data-figure="{name}">(.*?)</td>', row.group(1), re.S)
    assert cell, f"no {name} in the row of {upstream}"
    return cell.group(1).strip()


def test_it_shows_traffic_errors_and_latency_per_upstream(client, operator, owner) -> None:
    model = Model.objects.create(name="m")
    east = Upstream.objects.create(name="east", kind=UpstreamKind.OLLAMA, base_url="http://e:1")
    west = Upstream.objects.create(name="west", kind=UpstreamKind.OLLAMA, base_url="http://w:1")
    Upstream.objects.create(name="idle", kind=UpstreamKind.OPENAI, base_url="http://i:1")
    on_east = Deployment.objects.create(model=model, upstream=east, upstream_model="m")
    on_west = Deployment.objects.create(model=model, upstream=west, upstream_model="m")
    workspace = owner.workspace
    # east, last 5 minutes: 10 calls of 10..100 ms, two of them broken streams (502)
    for i in range(10):
        status = 502 if i < 2 else 200
        record(i, workspace, on_east, minutes_ago=1, latency_ms=10 * (i + 1), status=status,
               error_code="upstream_error" if status == 502 else "")  # fmt: skip
    # east, earlier in the hour: 50 more calls at 1000 ms
    for i in range(10, 60):
        record(i, workspace, on_east, minutes_ago=30, latency_ms=1000)
    # west: 3 calls in the last 5 minutes; a client's hang-up (499) is not an error
    for i, latency in enumerate((5, 7, 9)):
        record(100 + i, workspace, on_west, minutes_ago=2, latency_ms=latency,
               status=499 if i == 0 else 200)  # fmt: skip
    # no deployment: one refused by a limit, one that every upstream failed; an old one
    record(200, workspace, None, minutes_ago=1, status=429, error_code="rate_limit_exceeded")
    record(201, workspace, None, minutes_ago=1, status=503, error_code="upstream_unavailable")
    record(202, workspace, None, minutes_ago=90, status=503, error_code="upstream_unavailable")

    response = client.get(STATUS)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Gateway status" in html and 'id="site-name"' in html  # the admin's own frame

    assert figure(html, "east", "calls-5") == "10"
    assert figure(html, "east", "rpm-5") == "2.00"  # 10 calls / 5 minutes
    assert figure(html, "east", "errors-5") == "20.0%"
    assert figure(html, "east", "p50-5") == "50"  # nearest rank: 5th of 10
    assert figure(html, "east", "p95-5") == "100"  # nearest rank: 10th of 10
    assert figure(html, "east", "calls-60") == "60"
    assert figure(html, "east", "rpm-60") == "1.00"
    assert figure(html, "east", "errors-60") == "3.3%"  # 2 of 60
    assert figure(html, "east", "p50-60") == "1000"
    assert figure(html, "west", "calls-5") == "3"
    assert figure(html, "west", "errors-5") == "0.0%"
    assert figure(html, "west", "p95-5") == "9"
    assert figure(html, "idle", "calls-60") == "0"  # an active upstream without traffic
    assert figure(html, "idle", "p95-60") == "—"
    nowhere = "no deployment (refused, or every upstream failed)"
    assert figure(html, nowhere, "calls-5") == "2"
    assert figure(html, nowhere, "errors-5") == "50.0%"

    errors = re.search(r'<table id="errors">(.*?)</table>', html, re.S).group(1)
    assert re.search(r"<td[^>]*>502</td><td>upstream_error</td><td>east</td>"
                     r"<td[^>]*>2</td><td[^>]*>2</td>", errors)  # fmt: skip
    assert re.search(r"<td[^>]*>503</td><td>upstream_unavailable</td><td>—</td>"
                     r"<td[^>]*>1</td><td[^>]*>1</td>", errors)  # fmt: skip
    assert "rate_limit_exceeded" not in errors and "499" not in errors


def test_it_shows_a_deployment_cooled_down_by_real_failures(
    client, operator, gateway, key_a, upstream, settings
) -> None:
    settings.ROUTER_FAILURES_TO_COOL = 1
    settings.ROUTER_WORKSPACES_TO_COOL = 1  # one workspace's 5xx cool it for everyone
    settings.ROUTER_COOLDOWN_SECONDS = 30
    assert "None: every active deployment takes calls." in client.get(STATUS).content.decode()
    upstream.configure(status=500)
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}
    failed = client.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json",
        HTTP_X_API_KEY=key_a.secret,
    )  # fmt: skip
    assert failed.status_code == 503
    deployment = Deployment.objects.get(model=gateway["llama"])
    html = client.get(STATUS).content.decode()
    cooled = re.search(r'<table id="cooled">(.*?)</table>', html, re.S).group(1)
    row = re.search(rf'<tr data-deployment="{deployment.pk}">(.*?)</tr>', cooled, re.S)
    assert row and "fake-ollama" in row.group(1)
    assert 25 <= int(re.search(r'class="num bad">(\d+)<', row.group(1)).group(1)) <= 30
    others = Deployment.objects.exclude(pk=deployment.pk).values_list("pk", flat=True)
    assert all(f'data-deployment="{pk}"' not in cooled for pk in others)
    assert figure(html, "no deployment (refused, or every upstream failed)", "calls-5") == "1"


def test_it_is_for_staff_only(client, owner) -> None:
    anonymous = client.get(STATUS)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/?next=/admin/status/")
    client.force_login(owner.user)  # a customer, not staff
    refused = client.get(STATUS)
    assert refused.status_code == 302
    assert refused["Location"].startswith("/admin/login/")
