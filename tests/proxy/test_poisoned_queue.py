"""One bad record never stops usage recording: the flusher writes a refused batch record by
record, moves what the database still refuses to the dead-letter stream with the reason, and the
other calls' records and ledger entries land. The operator sees the dead letters (status page,
metrics) and replays or drops them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing import usage_queue
from billing.metering import Call, usage_payload
from billing.models import LedgerEntry, UsageRecord
from config.redis_client import redis_client
from keys.authentication import authenticate_secret

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

CHAT = "/v1/chat/completions"


@pytest.fixture(autouse=True)
def _queue_on(settings) -> None:
    settings.USAGE_QUEUE = True
    settings.USAGE_CLAIM_IDLE_MS = 0
    redis_client().delete(usage_queue.DEAD)
    yield
    redis_client().delete(usage_queue.DEAD)


def poison(key, **fields) -> str:
    """A record as an older or buggy gateway might have queued it, straight into the stream."""
    call = Call(authenticate_secret(key.secret), "req-poison", "chat_completions", "openai")
    payload = {**usage_payload(call), **fields}
    redis_client().xadd(usage_queue.STREAM, usage_queue.encode(payload))
    return payload["call_id"]


def paid_call(client, key, content: str = "hello") -> dict:
    body = {
        "model": "llama3.2",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": content}],
    }
    response = client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )
    assert response.status_code == 200, response.content
    return response


def flush_all() -> int:
    moved = total = 1
    while moved:
        moved = usage_queue.flush_batch(consumer="flusher", block_ms=None)
        total += moved
    return total - 1


def test_it_lands_the_next_calls_records_and_ledger_entries_past_poisoned_ones(client, prepaid_key):
    poisoned = [
        poison(prepaid_key, end_user="a\u0000b"),
        poison(prepaid_key, requested_model="x\ud800"),
        poison(prepaid_key, prompt_tokens=-1_000_000),
        poison(prepaid_key, prompt_tokens=2**40),
    ]
    redis_client().xadd(usage_queue.STREAM, {"r": b"{not json"})
    answers = [paid_call(client, prepaid_key, f"call {n}") for n in range(3)]
    assert UsageRecord.objects.count() == 0

    assert flush_all() == 8
    assert usage_queue.backlog() == 0
    records = UsageRecord.objects.filter(status=200)
    assert records.count() == 3
    assert not UsageRecord.objects.filter(call_id__in=poisoned).exists()
    charged = LedgerEntry.objects.filter(kind="usage", call_id__in=records.values("call_id"))
    assert charged.count() == 3
    assert all(entry.amount < 0 for entry in charged)
    for answer in answers:
        assert answer.json()["usage"]["completion_tokens"] > 0

    letters = usage_queue.dead_letters()
    assert usage_queue.dead_letter_count() == len(letters) == 5
    reasons = " | ".join(letter["reason"] for letter in letters)
    assert "NUL" in reasons and "unreadable" in reasons
    assert {json.loads(letter["record"])["call_id"] for letter in letters[:4]} == set(poisoned)


def test_it_shows_dead_letters_to_the_operator(client, admin_client, prepaid_key, settings):
    settings.METRICS_TOKEN = "operator-metrics-token-1234"  # /metrics wants it by default
    poison(prepaid_key, end_user="a\u0000b")
    flush_all()
    page = admin_client.get("/admin/status/").content.decode()
    assert "Usage records the database refused (dead letters): 1" in page
    assert "data-dead-letter=" in page
    metrics = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer operator-metrics-token-1234"
    ).content.decode()
    assert "tollgate_usage_dead_letters 1.0" in metrics


def test_it_lets_the_operator_replay_and_drop_dead_letters(prepaid_key, capsys):
    bad = poison(prepaid_key, prompt_tokens=-5)
    flush_all()
    # A record refused for a reason fixed since (here: put there as it would be after a fix).
    call = Call(authenticate_secret(prepaid_key.secret), "req-fixed", "chat_completions", "openai")
    good = {**usage_payload(call), "cost": Decimal("0.01")}
    redis_client().xadd(usage_queue.DEAD, {**usage_queue.encode(good), "reason": "earlier bug"})

    call_command("usage_dead_letters")
    listed = capsys.readouterr().out
    assert "2 dead letter(s)" in listed and "earlier bug" in listed

    call_command("usage_dead_letters", "--replay")
    assert "1 replayed, 1 refused again" in capsys.readouterr().out
    assert UsageRecord.objects.filter(call_id=good["call_id"]).exists()
    assert LedgerEntry.objects.get(call_id=good["call_id"]).amount == Decimal("-0.01")

    [left] = usage_queue.dead_letters()
    assert json.loads(left["record"])["call_id"] == bad
    call_command("usage_dead_letters", "--drop", left["id"])
    assert "1 dropped" in capsys.readouterr().out
    assert usage_queue.dead_letter_count() == 0


def test_it_lets_the_operator_replay_and_drop_from_the_status_page(admin_client, prepaid_key):
    bad = poison(prepaid_key, prompt_tokens=-5)
    flush_all()
    call = Call(authenticate_secret(prepaid_key.secret), "req-fixed", "chat_completions", "openai")
    good = usage_payload(call)
    redis_client().xadd(usage_queue.DEAD, {**usage_queue.encode(good), "reason": "earlier bug"})

    page = admin_client.post("/admin/status/dead-letters/", {"action": "replay"}, follow=True)
    assert "1 usage record(s) written, 1 refused again." in page.content.decode()
    assert UsageRecord.objects.filter(call_id=good["call_id"]).exists()
    [left] = usage_queue.dead_letters()
    assert json.loads(left["record"])["call_id"] == bad

    page = admin_client.post(
        "/admin/status/dead-letters/", {"action": "drop", "id": left["id"]}, follow=True
    )
    assert "1 usage record(s) dropped for good." in page.content.decode()
    assert usage_queue.dead_letter_count() == 0
    assert admin_client.get("/admin/status/dead-letters/").status_code == 405


@pytest.mark.parametrize("entry_id", ["../x", "1-1\n", "1-", "1-1 OR 1", "١-١", "\x00"])
def test_it_refuses_a_malformed_dead_letter_id(admin_client, prepaid_key, entry_id):
    poison(prepaid_key, prompt_tokens=-5)
    flush_all()

    for action in ("replay", "drop"):
        page = admin_client.post(
            "/admin/status/dead-letters/", {"action": action, "id": entry_id}, follow=True
        )
        assert page.status_code == 200
        assert "Not a dead letter&#x27;s id" in page.content.decode()
    assert usage_queue.dead_letter_count() == 1


def test_it_says_so_when_redis_refuses_an_id(admin_client, prepaid_key):
    poison(prepaid_key, prompt_tokens=-5)
    flush_all()

    too_big = "99999999999999999999999-0"  # the right shape, past what Redis reads as an id
    page = admin_client.post(
        "/admin/status/dead-letters/", {"action": "drop", "id": too_big}, follow=True
    )
    assert page.status_code == 200
    assert "Redis or the database did not answer (ResponseError)" in page.content.decode()
    assert usage_queue.dead_letter_count() == 1


def test_it_drops_every_dead_letter_only_when_asked_for_all(admin_client, prepaid_key):
    poison(prepaid_key, prompt_tokens=-5)
    poison(prepaid_key, prompt_tokens=-6)
    flush_all()
    assert usage_queue.dead_letter_count() == 2

    page = admin_client.post("/admin/status/dead-letters/", {"action": "drop"}, follow=True)
    assert "Choose a dead letter to drop" in page.content.decode()
    assert usage_queue.dead_letter_count() == 2

    status = admin_client.get("/admin/status/").content.decode()
    assert '<input type="hidden" name="all" value="1">' in status
    page = admin_client.post(
        "/admin/status/dead-letters/", {"action": "drop", "all": "1"}, follow=True
    )
    assert "2 usage record(s) dropped for good." in page.content.decode()
    assert usage_queue.dead_letter_count() == 0
