"""GET /api/v1/usage and /api/v1/usage.csv: a workspace's usage records, aggregated exactly,
filtered by [from, to), grouped by day, model or key, exported raw, never another workspace's."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import UsageRecord
from keys.services import issue_key

USAGE, CSV_URL = "/api/v1/usage", "/api/v1/usage.csv"
NOV = {"from": "2026-11-01", "to": "2026-11-03"}
HEADER = [
    "started_at",
    "request_id",
    "endpoint",
    "requested_model",
    "served_model",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "tokens_estimated",
    "credits",
    "cost",
    "latency_ms",
    "ttft_ms",
    "end_user",
    "key_id",
]


def record(workspace, key_id, started_at, **fields) -> UsageRecord:
    fields.setdefault("requested_model", "llama3")
    fields.setdefault("served_model", fields["requested_model"])
    return UsageRecord.objects.create(
        call_id=uuid.uuid4().hex,
        request_id=fields.pop("request_id", f"req-{uuid.uuid4().hex[:8]}"),
        workspace=workspace,
        key_id=key_id,
        endpoint=fields.pop("endpoint", "chat_completions"),
        dialect="openai",
        started_at=datetime.fromisoformat(started_at),
        finished_at=datetime.fromisoformat(started_at),
        **fields,
    )


@pytest.fixture
def second_key(owner):
    return issue_key(owner.workspace, "second", created_by=owner.user)


@pytest.fixture
def records(owner, outsider, key_a, key_b, second_key) -> dict[str, UsageRecord]:
    """Five calls of workspace A in [Nov 1, Nov 3), one on each side of it, and one of B."""
    a, b = owner.workspace, outsider.workspace
    return {
        "r1": record(
            a, key_a.key.pk, "2026-11-01T00:00:00+00:00", request_id="req-1",
            status=200, prompt_tokens=10, completion_tokens=20, credits=1,
            cost=Decimal("0.0001"), latency_ms=850, ttft_ms=120, end_user="alice",
        ),
        "r2": record(
            a, key_a.key.pk, "2026-11-01T23:59:59.999999+00:00", request_id="req-2",
            status=429, error_code="rate_limit_exceeded", latency_ms=3,
            end_user="=HYPERLINK(\"http://evil.test\")",
        ),
        "r3": record(
            a, second_key.key.pk, "2026-11-02T10:00:00+00:00", request_id="req-3",
            requested_model="fast", served_model="qwen2.5", status=200, prompt_tokens=5,
            completion_tokens=7, tokens_estimated=True, credits=1, cost=Decimal("0.000025"),
        ),
        "r4": record(
            a, second_key.key.pk, "2026-11-02T12:00:00+00:00", request_id="req-4",
            requested_model="nope", served_model="", status=404, error_code="model_not_found",
        ),
        "r5": record(
            a, None, "2026-11-02T13:00:00+00:00", request_id="req-5",
            status=200, prompt_tokens=1, completion_tokens=1, cost=Decimal("0.000002"),
        ),
        "after": record(
            a, key_a.key.pk, "2026-11-03T00:00:00+00:00", status=200, prompt_tokens=100,
            completion_tokens=200, credits=1, cost=Decimal("0.001"),
        ),
        "before": record(
            a, key_a.key.pk, "2026-10-31T23:59:59+00:00", status=200, prompt_tokens=50,
            completion_tokens=50, credits=1, cost=Decimal("0.0005"),
        ),
        "bravo": record(
            b, key_b.key.pk, "2026-11-01T12:00:00+00:00", status=200, prompt_tokens=1000,
            completion_tokens=1000, credits=1, cost=Decimal("0.01"),
        ),
    }  # fmt: skip


def figures(requests, errors, prompt, completion, credits, cost) -> dict:
    return {
        "requests": requests,
        "errors": errors,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "credits": credits,
        "cost": cost,
    }


NOV_TOTALS = figures(5, 2, 16, 28, 2, "0.00012700")


def get(client, key, url=USAGE, **params):
    return client.get(url, params, HTTP_X_API_KEY=key.secret)


def error_of(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_it_totals_the_range_from_inclusive_to_exclusive(client, key_a, records) -> None:
    response = get(client, key_a, **NOV)
    assert response.status_code == 200
    assert response.json() == {
        "object": "usage",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-03T00:00:00Z",
        "group_by": None,
        "data": [],
        "totals": NOV_TOTALS,
    }


def test_it_groups_by_utc_day(client, key_a, records) -> None:
    body = get(client, key_a, group_by="day", **NOV).json()
    assert body["group_by"] == "day"
    assert body["data"] == [
        {"date": "2026-11-01", **figures(2, 1, 10, 20, 1, "0.00010000")},
        {"date": "2026-11-02", **figures(3, 1, 6, 8, 1, "0.00002700")},
    ]
    assert body["totals"] == NOV_TOTALS


def test_it_groups_by_the_model_that_answered(client, key_a, records) -> None:
    body = get(client, key_a, group_by="model", **NOV).json()
    assert body["data"] == [
        {"model": "llama3", **figures(3, 1, 11, 21, 1, "0.00010200")},
        {"model": "nope", **figures(1, 1, 0, 0, 0, "0.00000000")},  # none answered: asked for
        {"model": "qwen2.5", **figures(1, 0, 5, 7, 1, "0.00002500")},
    ]
    assert body["totals"] == NOV_TOTALS


def test_it_groups_by_key_with_keyless_records_last(client, key_a, second_key, records) -> None:
    body = get(client, key_a, group_by="key", **NOV).json()
    by_key = sorted(
        [
            {"key_id": str(key_a.key.pk), **figures(2, 1, 10, 20, 1, "0.00010000")},
            {"key_id": str(second_key.key.pk), **figures(2, 1, 5, 7, 1, "0.00002500")},
        ],
        key=lambda group: group["key_id"].replace("-", ""),
    )
    assert body["data"] == [*by_key, {"key_id": None, **figures(1, 0, 1, 1, 0, "0.00000200")}]
    assert body["totals"] == NOV_TOTALS


def test_it_aggregates_in_one_query(client, key_a, records) -> None:
    get(client, key_a, **NOV)  # authentication is cached from here on
    for group_by in ("", "day", "model", "key"):
        with CaptureQueriesContext(connection) as queries:
            assert get(client, key_a, group_by=group_by, **NOV).status_code == 200
        usage_queries = [q for q in queries.captured_queries if "usagerecord" in q["sql"]]
        assert len(usage_queries) == 1, group_by


def test_it_defaults_to_the_last_30_days(client, key_a, records) -> None:
    with time_machine.travel(datetime(2026, 11, 3, 6, 0, tzinfo=UTC), tick=False):
        body = get(client, key_a).json()
    assert (body["from"], body["to"]) == ("2026-10-04T06:00:00Z", "2026-11-03T06:00:00Z")
    assert body["totals"] == figures(7, 2, 166, 278, 4, "0.00162700")


def test_it_reads_datetimes_with_offsets_and_naive_ones_as_utc(client, key_a, records) -> None:
    body = get(client, key_a, **{"from": "2026-11-02T17:00:00+07:00", "to": "2026-11-02T12:00"})
    assert (body := body.json())["from"] == "2026-11-02T10:00:00Z"
    assert body["to"] == "2026-11-02T12:00:00Z"
    assert body["totals"]["requests"] == 1  # r3; r4 starts at `to`
    # An unencoded "+" arrives as a space: still read as the offset.
    raw = client.get(
        f"{USAGE}?from=2026-11-02T17:00:00+07:00&to=2026-11-02T19:00:00Z",
        HTTP_X_API_KEY=key_a.secret,
    )
    assert raw.json()["from"] == "2026-11-02T10:00:00Z"


def test_it_never_shows_another_workspaces_usage(client, key_b, records) -> None:
    body = get(client, key_b, group_by="model", **NOV).json()
    assert body["data"] == [{"model": "llama3", **figures(1, 0, 1000, 1000, 1, "0.01000000")}]
    assert body["totals"] == figures(1, 0, 1000, 1000, 1, "0.01000000")
    rows = list(csv.reader(io.StringIO(b"".join(get(client, key_b, CSV_URL, **NOV)).decode())))
    assert len(rows) == 2
    assert rows[1][-1] == str(records["bravo"].key_id)


def test_it_exports_the_raw_records_as_csv(client, key_a, second_key, records) -> None:
    response = get(client, key_a, CSV_URL, **NOV)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="usage-20261101T000000Z-20261103T000000Z.csv"'
    )
    text = b"".join(response.streaming_content).decode()
    assert text.startswith(",".join(HEADER) + "\r\n")
    a1, a2 = str(key_a.key.pk), str(second_key.key.pk)
    assert list(csv.reader(io.StringIO(text))) == [
        HEADER,
        ["2026-11-01T00:00:00Z", "req-1", "chat_completions", "llama3", "llama3", "200", "",
         "10", "20", "false", "1", "0.00010000", "850", "120", "alice", a1],
        ["2026-11-01T23:59:59.999999Z", "req-2", "chat_completions", "llama3", "llama3", "429",
         "rate_limit_exceeded", "0", "0", "false", "0", "0.00000000", "3", "",
         "'=HYPERLINK(\"http://evil.test\")", a1],
        ["2026-11-02T10:00:00Z", "req-3", "chat_completions", "fast", "qwen2.5", "200", "",
         "5", "7", "true", "1", "0.00002500", "0", "", "", a2],
        ["2026-11-02T12:00:00Z", "req-4", "chat_completions", "nope", "", "404",
         "model_not_found", "0", "0", "false", "0", "0.00000000", "0", "", "", a2],
        ["2026-11-02T13:00:00Z", "req-5", "chat_completions", "llama3", "llama3", "200", "",
         "1", "1", "false", "0", "0.00000200", "0", "", "", ""],
    ]  # fmt: skip


def test_it_sends_csv_whatever_the_accept_header_says(client, key_a, records) -> None:
    response = client.get(CSV_URL, NOV, HTTP_X_API_KEY=key_a.secret, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().splitlines()[0] == ",".join(HEADER)


def test_it_exports_only_a_header_for_an_empty_range(client, key_a, records) -> None:
    response = get(client, key_a, CSV_URL, **{"from": "2020-01-01", "to": "2020-01-02"})
    assert b"".join(response.streaming_content).decode() == ",".join(HEADER) + "\r\n"


@pytest.mark.parametrize("url", [USAGE, CSV_URL])
@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"from": "yesterday"}, "from", "from: expected an ISO date or datetime"),
        ({"to": "2026-13-01"}, "to", "to: expected an ISO date or datetime"),
        ({"from": "2026-11-03", "to": "2026-11-01"}, "from", "from: must not be after to"),
        (
            {"from": "2025-01-01", "to": "2026-01-03"},
            "to",
            "to: the range must not exceed 366 days",
        ),
    ],
)
def test_it_refuses_a_bad_range(client, key_a, url, params, param, message) -> None:
    assert error_of(get(client, key_a, url, **params)) == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": "invalid_request_error",
    }


def test_it_allows_a_range_of_exactly_366_days(client, key_a) -> None:
    response = get(client, key_a, **{"from": "2024-01-01", "to": "2025-01-01"})  # a leap year
    assert response.status_code == 200


def test_it_refuses_an_unknown_group_by(client, key_a) -> None:
    assert error_of(get(client, key_a, group_by="week")) == {
        "message": "group_by: expected one of day, model, key",
        "type": "invalid_request_error",
        "param": "group_by",
        "code": "invalid_request_error",
    }


@pytest.mark.parametrize("url", [USAGE, CSV_URL])
def test_it_needs_an_api_key(client, db, url) -> None:
    assert error_of(client.get(url), 401) == {
        "message": "Missing API key. Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
