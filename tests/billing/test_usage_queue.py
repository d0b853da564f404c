"""Usage records through the Redis stream: nothing written on the request path, every record
lands exactly once, even when a flusher dies mid-batch."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from billing import usage_queue
from billing.metering import Call, Usage, settle
from billing.models import UsageRecord
from config.redis_client import redis_client
from keys.authentication import authenticate_secret

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _queue_on(settings) -> None:
    settings.USAGE_QUEUE = True
    settings.USAGE_CLAIM_IDLE_MS = 0  # a pending entry may be claimed at once


def settled_calls(key, count: int) -> list[str]:
    principal = authenticate_secret(key.secret)
    ids = []
    for index in range(count):
        call = Call(
            principal=principal, request_id=f"req-{index}", endpoint="chat", dialect="openai"
        )
        call.usage = Usage(10, index)
        settle(call)
        ids.append(call.call_id)
    return ids


def test_it_writes_nothing_to_the_database_during_the_call(
    key_a, django_assert_num_queries
) -> None:
    principal = authenticate_secret(key_a.secret)
    with django_assert_num_queries(0):
        settle(Call(principal=principal, request_id="r", endpoint="chat", dialect="openai"))
    assert UsageRecord.objects.count() == 0
    assert usage_queue.backlog() == 1


def test_it_moves_the_stream_into_the_database(key_a) -> None:
    ids = settled_calls(key_a, 7)
    assert usage_queue.flush_batch(consumer="f1", count=5) == 5
    assert usage_queue.flush_batch(consumer="f1", count=5) == 2
    assert usage_queue.flush_batch(consumer="f1", block_ms=10) == 0
    assert sorted(UsageRecord.objects.values_list("call_id", flat=True)) == sorted(ids)
    record = UsageRecord.objects.get(request_id="req-3")
    assert (record.prompt_tokens, record.completion_tokens) == (10, 3)
    assert usage_queue.backlog() == 0


def test_it_recovers_a_batch_whose_flusher_died_before_reading_it_all(key_a) -> None:
    ids = settled_calls(key_a, 4)
    client = redis_client()
    usage_queue._ensure_group(client)
    # Flusher "dead" reads the batch and dies before writing or acknowledging it.
    client.xreadgroup(usage_queue.GROUP, "dead", {usage_queue.STREAM: ">"}, count=10)
    assert usage_queue.flush_batch(consumer="alive", block_ms=10) == 4
    assert sorted(UsageRecord.objects.values_list("call_id", flat=True)) == sorted(ids)


def test_it_lands_each_record_once_when_a_flusher_dies_after_writing(key_a) -> None:
    ids = settled_calls(key_a, 3)
    client = redis_client()
    usage_queue._ensure_group(client)
    answer = client.xreadgroup(usage_queue.GROUP, "dead", {usage_queue.STREAM: ">"}, count=10)
    entries = answer[0][1]
    usage_queue.write_now([usage_queue._decode(json.loads(f[b"r"])) for _, f in entries])
    # ... and died before XACK: the next flusher claims and writes the same batch again.
    assert usage_queue.flush_batch(consumer="alive", block_ms=10) == 3
    assert UsageRecord.objects.count() == 3
    assert sorted(UsageRecord.objects.values_list("call_id", flat=True)) == sorted(ids)
    assert usage_queue.backlog() == 0


def test_it_flushes_from_the_command(key_a, capsys) -> None:
    settled_calls(key_a, 2)
    call_command("flush_usage", "--once")
    assert "2 usage record(s) written" in capsys.readouterr().out
    assert UsageRecord.objects.count() == 2


def test_it_writes_directly_when_redis_is_unreachable(key_a, settings, monkeypatch) -> None:
    import config.redis_client as module

    principal = authenticate_secret(key_a.secret)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(module, "_client", None)
    settle(Call(principal=principal, request_id="r-down", endpoint="chat", dialect="openai"))
    monkeypatch.setattr(module, "_client", None)
    assert UsageRecord.objects.filter(request_id="r-down").exists()
