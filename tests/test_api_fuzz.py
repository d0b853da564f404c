"""Schemathesis against our own OpenAPI document (/api/v1/schema): every operation, in-process
through the WSGI application, with a valid key of a workspace whose plan has every scope, in
front of the fake upstream. No answer may be a 5xx, nor have a status code, content type or body
that its operation does not document. Bounded (MAX_EXAMPLES generated cases per operation, plus
the document's examples and schemathesis' coverage cases) and derandomized, so CI sees the same
cases on every run: about a minute. With DATABASE_URL and REDIS_URL (CI) a second pass runs the
same cases on PostgreSQL with the usage queue on, runs the flusher after each and asserts that
the queue drained: no client input leaves a record that PostgreSQL refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.db import connection
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from accounts.services import create_workspace
from agents.schema import AGENT_CREATE
from billing import usage_queue
from billing.models import Plan, UsageRecord
from config.redis_client import redis_client
from config.wsgi import application
from keys.services import issue_key

from .conftest import _user
from .proxy.conftest import (  # noqa: F401 - the gateway's fixtures, shared
    _keep_the_test_connection,
    _reset_upstreams,
    gateway,
    upstream,
    wsgi_http_client,
)

MAX_EXAMPLES = 25
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 9,
        "generation": {
            "mode": "all",  # valid requests, and requests that break the document
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", application, config=CONFIG).exclude(
    # PUT connects to the `base_url` it is given (any public address): fuzzed URLs would send
    # traffic off this machine. tests/proxy/test_local_connection.py covers it.
    method="PUT",
    path="/api/v1/local/connection",
)


@pytest.fixture
def fuzzer(request: pytest.FixtureRequest, db: None) -> dict[str, Any]:
    """A workspace on Enterprise with every scope (local_model_access too), its key, and one
    object of each kind that the paths name, made through the API as a customer would; the
    gateway's catalog (llama3.2 and nomic-embed-text on the fake upstream)."""
    request.getfixturevalue("gateway")
    plan = Plan.objects.get(code="enterprise")
    plan.scopes = [*plan.scopes, "local_model_access"]
    plan.save()
    workspace = create_workspace("Fuzz", _user("fuzz@fuzz.test"), plan)
    headers = {"Authorization": f"Bearer {issue_key(workspace, 'fuzz').secret}"}
    http = wsgi_http_client()

    def create(path: str, body: dict[str, Any]) -> str:
        response = http.post(
            path, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    records = [
        {"prompt": f"Question {i}?", "completion": f"Answer {i}."} for i in range(1, 4)
    ]  # fmt: skip
    dataset_id = create("/api/v1/finetune/datasets", {"title": "Fuzz", "records": records})
    ids = {
        "agent_id": create("/api/v1/agents", AGENT_CREATE),
        "dataset_id": dataset_id,
        "job_id": create(
            "/api/v1/finetune/jobs", {"datasetId": dataset_id, "baseModel": "llama3.2"}
        ),
        "model_id": "llama3.2",
    }
    return {"headers": headers, "ids": ids}


def aim_at_real_objects(case: schemathesis.Case, ids: dict[str, str]) -> None:
    """Valid path parameters name the fuzzer's own objects (a random id is only ever a 404), and a
    valid job request its dataset; invalid ones stay as generated."""
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.PATH):
        for name in case.path_parameters:
            if name in ids:
                case.path_parameters[name] = ids[name]
    body_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.BODY)
    if isinstance(case.body, dict) and "datasetId" in case.body and not body_negative:
        case.body["datasetId"] = ids["dataset_id"]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_it_answers_every_operation_as_its_document_says(
    case: schemathesis.Case, fuzzer: dict[str, Any]
) -> None:
    aim_at_real_objects(case, fuzzer["ids"])
    case.call_and_validate(headers=fuzzer["headers"])


# --- the second pass: PostgreSQL, Redis and the usage queue with its flusher ----------------------


@pytest.fixture
def queued_usage(settings) -> Iterator[None]:
    """Usage records go through the Redis stream, as in production; the stream starts empty."""
    if connection.vendor != "postgresql" or redis_client() is None:
        pytest.skip("the second pass needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    settings.USAGE_QUEUE = True
    settings.USAGE_CLAIM_IDLE_MS = 0
    redis_client().delete(usage_queue.STREAM)
    yield
    redis_client().delete(usage_queue.STREAM)


def drain() -> int:
    """The flusher, run until the stream is empty: every record it held, written."""
    moved = 0
    for _ in range(100):
        batch = usage_queue.flush_batch(consumer="fuzz-flusher", count=500, block_ms=None)
        if not batch:
            break
        moved += batch
    return moved


@pytest.mark.postgres
@pytest.mark.redis
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_it_answers_every_operation_and_the_usage_queue_drains_on_postgresql(
    case: schemathesis.Case, fuzzer: dict[str, Any], queued_usage: None
) -> None:
    """Whatever a client sends, the records it leaves in the usage queue are ones PostgreSQL
    takes: the flusher writes every one of them and the stream is empty afterwards."""
    aim_at_real_objects(case, fuzzer["ids"])
    before = UsageRecord.objects.count()
    case.call_and_validate(headers=fuzzer["headers"])
    queued = usage_queue.backlog()

    assert drain() == queued
    assert usage_queue.backlog() == 0
    assert UsageRecord.objects.count() == before + queued
