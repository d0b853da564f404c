"""The dashboard's usage page: filters, totals, pages and the CSV export, read exactly as
GET /api/v1/usage(.csv) reads them; members see it, another workspace's page is a 404."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.models import UsageRecord
from billing.usage_views import PAGE_SIZE
from keys.services import issue_key


def record(workspace, key, started_at: str, **fields) -> UsageRecord:
    fields.setdefault("requested_model", "llama3.2")
    fields.setdefault("served_model", fields["requested_model"])
    moment = datetime.fromisoformat(started_at).replace(tzinfo=UTC)
    return UsageRecord.objects.create(
        call_id=uuid.uuid4().hex,
        request_id=fields.pop("request_id", f"req-{uuid.uuid4().hex[:8]}"),
        workspace=workspace,
        key_id=key.pk if key else None,
        endpoint=fields.pop("endpoint", "chat_completions"),
        dialect="openai",
        status=fields.pop("status", 200),
        started_at=moment,
        finished_at=moment,
        **fields,
    )


def usage_url(persona, name: str = "usage") -> str:
    return reverse(f"dashboard:{name}", args=[persona.workspace.slug])


@pytest.fixture
def keys(owner):
    return (
        issue_key(owner.workspace, "backend", created_by=owner.user).key,
        issue_key(owner.workspace, "laptop", created_by=owner.user).key,
    )


@pytest.fixture
def records(owner, outsider, keys):
    backend, laptop = keys
    ws = owner.workspace
    made = {
        "a": record(
            ws,
            backend,
            "2026-11-01T09:00",
            prompt_tokens=10,
            completion_tokens=5,
            credits=3,
            cost=Decimal("0.001"),
        ),
        "b": record(
            ws,
            backend,
            "2026-11-02T10:00",
            requested_model="claude-sonnet-4",
            served_model="qwen2.5:7b",
            endpoint="messages",
            prompt_tokens=100,
            completion_tokens=50,
            credits=20,
            cost=Decimal("0.02"),
        ),
        "c": record(
            ws,
            laptop,
            "2026-11-02T23:59",
            status=429,
            error_code="rate_limited",
            served_model="",
            credits=0,
        ),
        "d": record(ws, laptop, "2026-11-03T00:00", prompt_tokens=7, credits=1),  # next day
        "old": record(ws, backend, "2026-09-01T12:00", credits=999),
    }
    record(
        outsider.workspace, None, "2026-11-02T12:00", requested_model="secret-model", credits=5000
    )
    return made


@pytest.fixture
def now():
    with time_machine.travel(datetime(2026, 11, 5, 12, tzinfo=UTC), tick=False):
        yield


def shown(response) -> list[UsageRecord]:
    return [row.record for row in response.context["rows"]]


def csv_rows(response) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "member"])
def test_it_renders_for_owner_and_member(client, request, now, records, persona) -> None:
    who = request.getfixturevalue(persona)
    client.force_login(who.user)

    response = client.get(usage_url(who))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Usage" in html and 'aria-current="page">Usage<' in html
    assert "qwen2.5:7b" in html and "asked for claude-sonnet-4" in html
    assert "backend" in html and "rate_limited" in html
    assert "secret-model" not in html


def test_it_is_a_404_for_an_outsider(client, outsider, owner, records) -> None:
    client.force_login(outsider.user)
    assert client.get(usage_url(owner)).status_code == 404
    assert client.get(usage_url(owner, "usage_csv")).status_code == 404


def test_it_sends_anonymous_users_to_login(client, owner) -> None:
    response = client.get(usage_url(owner))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- filters and totals -------------------------------------------------------------------


def test_it_shows_the_last_30_days_newest_first_with_their_totals(client, owner, now, records):
    client.force_login(owner.user)
    response = client.get(usage_url(owner))

    assert shown(response) == [records[k] for k in ("d", "c", "b", "a")]  # not "old"
    totals = response.context["totals"]
    assert totals["requests"] == 4 and totals["errors"] == 1
    assert totals["prompt_tokens"] == 117 and totals["completion_tokens"] == 55
    assert totals["credits"] == 24
    assert totals["cost"] == "0.02100000"


def test_it_includes_both_days_of_the_range(client, owner, now, records) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner), {"since": "2026-11-01", "until": "2026-11-02"})

    assert shown(response) == [records["c"], records["b"], records["a"]]
    assert response.context["totals"]["requests"] == 3


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"model": "qwen2.5:7b"}, ["b"]),  # the model that answered
        ({"model": "llama3.2"}, ["d", "c", "a"]),  # c failed before a model answered
        ({"endpoint": "messages"}, ["b"]),
        ({"status": "error"}, ["c"]),
        ({"status": "ok"}, ["d", "b", "a"]),
        ({"status": "ok", "endpoint": "chat_completions", "model": "llama3.2"}, ["d", "a"]),
    ],
)
def test_it_filters_like_the_api(client, owner, now, records, params, expected) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner), params)

    assert shown(response) == [records[k] for k in expected]
    assert response.context["totals"]["requests"] == len(expected)


def test_it_filters_by_key(client, owner, now, records, keys) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner), {"key": str(keys[1].pk)})

    assert shown(response) == [records["d"], records["c"]]
    assert response.context["totals"]["credits"] == 1


def test_it_offers_only_the_workspaces_keys_and_models(client, owner, now, records, key_b):
    client.force_login(owner.user)
    form = client.get(usage_url(owner)).context["form"]

    key_names = [label for value, label in form.fields["key"].choices if value]
    assert [name.split(" ")[0] for name in key_names] == ["backend", "laptop"]
    assert str(key_b.key.pk) not in dict(form.fields["key"].choices)
    models = [value for value, _ in form.fields["model"].choices if value]
    assert models == ["llama3.2", "qwen2.5:7b"]
    assert [v for v, _ in form.fields["endpoint"].choices if v] == ["chat_completions", "messages"]


def test_it_never_counts_another_workspaces_key(client, owner, now, records, key_b) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner), {"key": str(key_b.key.pk)})
    assert response.context["form"].errors["key"]  # not one of the choices
    assert response.context["totals"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-04", "until": "2026-11-01"}, "since"),
        ({"since": "2025-01-01", "until": "2026-11-01"}, "until"),
        ({"since": "yesterday"}, "since"),
        ({"status": "maybe"}, "status"),
    ],
)
def test_it_shows_a_bad_filter_beside_its_field(client, owner, now, params, field) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner), params)

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert b'class="field-errors"' in response.content
    assert response.context["page"] is None


def test_it_pages_the_records(client, owner, now, keys) -> None:
    for minute in range(PAGE_SIZE + 3):
        record(
            owner.workspace,
            keys[0],
            f"2026-11-04T10:{minute % 60:02d}",
            request_id=f"call-{minute:03d}",
            credits=1,
        )
    client.force_login(owner.user)

    first = client.get(usage_url(owner), {"model": "llama3.2"})
    second = client.get(usage_url(owner), {"model": "llama3.2", "page": "2"})

    assert len(shown(first)) == PAGE_SIZE and len(shown(second)) == 3
    assert shown(first)[0].started_at > shown(second)[-1].started_at
    assert first.context["totals"]["requests"] == PAGE_SIZE + 3  # the whole filter, not a page
    assert "?model=llama3.2&amp;page=2" in first.content.decode()


# --- CSV ----------------------------------------------------------------------------------


def test_it_exports_the_filtered_records_as_csv(client, owner, now, records, keys) -> None:
    client.force_login(owner.user)
    params = {"since": "2026-11-01", "until": "2026-11-02", "key": str(keys[0].pk)}
    page = client.get(usage_url(owner), params)
    link = reverse("dashboard:usage_csv", args=[owner.workspace.slug])
    assert f'href="{link}?since=2026-11-01&amp;until=2026-11-02&amp;key={keys[0].pk}"' in (
        page.content.decode()
    )

    response = client.get(link, params)

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [r["request_id"] for r in rows] == [records["a"].request_id, records["b"].request_id]
    assert {r["key_id"] for r in rows} == {str(keys[0].pk)}
    assert sum(int(r["credits"]) for r in rows) == page.context["totals"]["credits"] == 23


def test_it_exports_what_the_api_exports(client, owner, now, records, key_a) -> None:
    client.force_login(owner.user)
    dashboard = csv_rows(client.get(usage_url(owner, "usage_csv"), {"status": "error"}))
    client.logout()
    api = client.get(
        "/api/v1/usage.csv",
        {"from": (datetime.now(tz=UTC) - timedelta(days=30)).isoformat(), "status": "error"},
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}",
    )
    assert dashboard == csv_rows(api) != []


def test_it_sends_a_bad_export_back_to_the_page(client, owner, now) -> None:
    client.force_login(owner.user)
    response = client.get(usage_url(owner, "usage_csv"), {"status": "maybe"})
    assert response.status_code == 302
    assert response["Location"] == usage_url(owner) + "?status=maybe"


def test_it_lets_the_api_filter_the_same_way(client, owner, now, records, key_a) -> None:
    response = client.get(
        "/api/v1/usage",
        {"from": "2026-11-01", "to": "2026-11-04", "model": "qwen2.5:7b"},
        HTTP_AUTHORIZATION=f"Bearer {key_a.secret}",
    )
    assert response.json()["totals"]["requests"] == 1
    bad = client.get("/api/v1/usage", {"key": "nope"}, HTTP_AUTHORIZATION=f"Bearer {key_a.secret}")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "key"


def chart(response, title: str):
    return next(c for c in response.context["charts"] if c.title == title)


def test_it_charts_each_day_by_model_key_status_or_endpoint(
    client, owner, records, catalog, now
) -> None:
    client.force_login(owner.user)
    days = {"since": "2026-11-01", "until": "2026-11-03"}
    UsageRecord.objects.filter(pk=records["a"].pk).update(latency_ms=120)
    UsageRecord.objects.filter(pk=records["b"].pk).update(latency_ms=900)

    by_model = client.get(usage_url(owner), days)

    requests = chart(by_model, "Requests")
    assert [t.label for t in requests.ticks] == ["2", "1", "0"]
    assert dict(requests.legend).keys() == {"llama3.2", "qwen2.5:7b", "refused"}
    assert len(requests.bars) == 4  # 1 Nov; 2 Nov: qwen and refused; 3 Nov
    assert chart(by_model, "Errors").total == 1
    assert chart(by_model, "Credits").total == 24
    tokens = chart(by_model, "Tokens")
    assert tokens.total == 10 + 5 + 100 + 50 + 7
    latency = chart(by_model, "Latency of answered calls")
    assert [line.name for line in latency.lines] == ["p50", "p95"]
    assert [t.label for t in latency.ticks] == ["1,000", "500", "0"]

    by_key = chart(client.get(usage_url(owner), {**days, "by": "key"}), "Requests")
    assert dict(by_key.legend).keys() == {"backend", "laptop"}
    by_status = chart(client.get(usage_url(owner), {**days, "by": "status"}), "Requests")
    assert dict(by_status.legend).keys() == {"OK", "429 rate limited"}
    html = client.get(usage_url(owner), {**days, "by": "endpoint"}).content.decode()
    assert "Messages (Anthropic)" in html and "Chat completions" in html
    assert "<code>chat_completions</code>" not in html


def test_it_labels_what_was_charged_and_the_list_price(
    client, owner, records, catalog, now
) -> None:
    client.force_login(owner.user)

    response = client.get(usage_url(owner), {"since": "2026-11-01", "until": "2026-11-03"})

    html = response.content.decode()
    assert "<dt>Charged</dt>" in html and "<dt>At list price</dt>" in html
    assert ">Charged</th>" in html and ">List price</th>" in html
    # qwen2.5:7b at $0.10 / $0.30 per million tokens: 100 in, 50 out
    qwen = next(row for row in response.context["rows"] if row.record.served_model == "qwen2.5:7b")
    assert qwen.list_price == Decimal("0.000025")
