"""Streams whose web process died are settled and recorded by the sweep (billing/lost_streams),
once; a stream that ends after a sweep took it is not settled again. The death itself, under
gunicorn, is in tests/proxy/test_worker_killed.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from billing import lost_streams
from billing.models import UsageRecord
from billing.tasks import sweep_lost_streams
from config.redis_client import redis_client

pytestmark = pytest.mark.redis


def start_stream(client, key):
    body = {
        "model": "llama3.2",
        "stream": True,
        "messages": [{"role": "user", "content": "[[tokens:5]] hello"}],
    }
    response = client.post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json",
        HTTP_X_API_KEY=key.secret,
    )  # fmt: skip
    assert response.status_code == 200
    return response


def test_it_records_a_stream_silent_past_its_deadline_once(client, gateway, key_a, settings):
    settings.LIMIT_LEASE_SECONDS = 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response = start_stream(client, key_a)  # started, never read: as if its process died
        assert redis_client().hlen(lost_streams.CALLS) == 1
        assert sweep_lost_streams() == 0  # not due while its lease may still be renewed
    with time_machine.travel(start + timedelta(seconds=121), tick=False):
        assert sweep_lost_streams() == 1
        assert sweep_lost_streams() == 0
    record = UsageRecord.objects.get()
    assert (record.status, record.error_code, record.incomplete) == (500, "worker_lost", True)
    assert record.prompt_tokens > 0 and record.completion_tokens == 0 and record.tokens_estimated
    assert record.credits == 1
    assert record.finished_at == start  # when it was last heard of

    b"".join(response.streaming_content)  # the stream ends after all: settled once already
    assert UsageRecord.objects.count() == 1
    assert redis_client().zcard(f"lim:{{{key_a.key.workspace_id}}}:inflight") == 0


def test_a_stream_that_ends_leaves_nothing_to_sweep(client, gateway, key_a) -> None:
    b"".join(start_stream(client, key_a).streaming_content)
    assert redis_client().hlen(lost_streams.CALLS) == 0
    assert redis_client().zcard(lost_streams.DUE) == 0
    assert UsageRecord.objects.get().status == 200


def test_a_lost_streams_key_keeps_only_what_it_cost_of_its_cap(client, prepaid_key, settings):
    """On a prepaid plan the key's cap counts the call's hold at admission; the sweep trues it
    up to what the lost stream is billed, as the settlement of a stream that ended would."""
    from billing import prepaid

    prepaid_key.key.monthly_cap = 100
    prepaid_key.key.save()
    settings.LIMIT_LEASE_SECONDS = 60
    settings.PREPAID_DEFAULT_MAX_TOKENS = 100  # a hold the $5 balance covers
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        start_stream(client, prepaid_key)
    with time_machine.travel(start + timedelta(seconds=121), tick=False):
        assert sweep_lost_streams() == 1
    record = UsageRecord.objects.get()
    spend = [
        k for k in redis_client().keys("lim:*:keyspend:*") if str(prepaid_key.key.pk) in str(k)
    ]
    assert int(redis_client().get(spend[0])) == prepaid.to_micro(record.cost) > 0
