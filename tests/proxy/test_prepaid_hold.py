"""A prepaid call's hold limits what the upstream generates: the upstream is sent the output
limit the hold paid for (when the client asked for none or more), the hold covers every answer
(prompts × n / best_of), a cut answer ends with finish reason `length`, and the charge is never
above the hold, so the balance never goes below zero."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing.models import Balance, LedgerEntry, UsageRecord
from proxy.pipeline import upper_bound_prompt

LONG = "tell me everything [[tokens:5000]]"  # 5,000 output tokens: $10 at $2,000/M > $5


@pytest.fixture(autouse=True)
def _small_default(settings) -> None:
    settings.PREPAID_DEFAULT_MAX_TOKENS = 100  # no max_tokens: a 100-token hold per answer


def post(client, path: str, body: dict, key):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key.secret
    )


def balance(key) -> Decimal:
    return Balance.objects.get(workspace=key.key.workspace).amount


def sent_upstream(upstream) -> dict:
    return upstream.requests[-1]["body"]


def test_it_tells_the_upstream_the_limit_the_hold_paid_for(client, prepaid_key, upstream):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": LONG}]}
    response = post(client, "/v1/chat/completions", body, prepaid_key)
    assert response.status_code == 200
    assert sent_upstream(upstream)["max_tokens"] == 100
    answer = response.json()
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 100
    record = UsageRecord.objects.get()
    assert record.cost <= Decimal(5)
    assert balance(prepaid_key) == Decimal(5) - record.cost >= 0


def test_it_lowers_a_limit_above_the_models_window(client, prepaid_key, upstream, gateway):
    gateway["llama"].context_window = 150
    gateway["llama"].save()
    body = {"model": "llama3.2", "max_completion_tokens": 100_000,
            "messages": [{"role": "user", "content": LONG}]}  # fmt: skip
    response = post(client, "/v1/chat/completions", body, prepaid_key)
    assert response.status_code == 200
    assert sent_upstream(upstream)["max_completion_tokens"] == 150
    assert response.json()["choices"][0]["finish_reason"] == "length"


def test_it_keeps_a_smaller_limit_the_client_asked_for(client, prepaid_key, upstream):
    body = {"model": "llama3.2", "max_tokens": 7, "messages": [{"role": "user", "content": LONG}]}
    response = post(client, "/v1/chat/completions", body, prepaid_key)
    assert sent_upstream(upstream)["max_tokens"] == 7
    assert response.json()["usage"]["completion_tokens"] == 7


def test_it_limits_a_stream_too(client, prepaid_key, upstream):
    body = {"model": "llama3.2", "stream": True, "messages": [{"role": "user", "content": LONG}]}
    response = post(client, "/v1/chat/completions", body, prepaid_key)
    events = [
        json.loads(line[6:])
        for line in b"".join(response.streaming_content).decode().splitlines()
        if line.startswith("data: {")
    ]
    assert sent_upstream(upstream)["max_tokens"] == 100
    finishes = [c["finish_reason"] for e in events for c in e["choices"] if c["finish_reason"]]
    assert finishes == ["length"]
    record = UsageRecord.objects.get()
    assert (record.status, record.completion_tokens) == (200, 100)
    assert balance(prepaid_key) == Decimal(5) - record.cost >= 0


def test_it_limits_an_anthropic_messages_call(client, prepaid_key, upstream, sonnet):
    sonnet.input_price_per_mtok, sonnet.output_price_per_mtok = 1000, 2000
    sonnet.save()
    body = {"model": "claude-sonnet-4-6", "max_tokens": 60,
            "messages": [{"role": "user", "content": LONG}]}  # fmt: skip
    response = post(client, "/v1/messages", body, prepaid_key)
    assert response.status_code == 200
    assert sent_upstream(upstream)["max_tokens"] == 60
    assert response.json()["stop_reason"] == "max_tokens"
    assert response.json()["usage"]["output_tokens"] == 60


def test_it_holds_every_answer_of_a_list_of_prompts(client, prepaid_key, upstream, gateway):
    gateway["llama"].output_price_per_mtok = 100_000  # 10 tokens: $1
    gateway["llama"].save()
    one = {"model": "llama3.2", "prompt": "say [[tokens:50]]", "max_tokens": 10}
    response = post(client, "/v1/completions", one, prepaid_key)
    assert response.status_code == 200
    assert response.json()["choices"][0]["finish_reason"] == "length"
    before = len(upstream.requests)
    many = {**one, "prompt": ["a [[tokens:50]]"] * 3, "n": 2}  # 6 answers: $6 > what is left
    refused = post(client, "/v1/completions", many, prepaid_key)
    assert refused.status_code == 402
    assert len(upstream.requests) == before
    best_of = {**one, "best_of": 6}
    assert post(client, "/v1/completions", best_of, prepaid_key).status_code == 402
    assert balance(prepaid_key) >= 0


def test_it_never_charges_more_than_the_hold(client, prepaid_key, upstream):
    """An upstream that counts more than the hold (a customer's own server) is not billed
    beyond it: here it reports a million prompt tokens ($1,000)."""
    messages = [{"role": "user", "content": "x [[prompt_tokens:1000000]]"}]
    body = {"model": "llama3.2", "max_tokens": 10, "messages": messages}
    response = post(client, "/v1/chat/completions", body, prepaid_key)
    assert response.status_code == 200
    record = UsageRecord.objects.get()
    held = Decimal(upper_bound_prompt(body) * 1000 + 10 * 2000) / 10**6  # the hold
    assert record.cost == held < Decimal("0.2")
    assert LedgerEntry.objects.get(kind="usage").amount == -record.cost
    assert balance(prepaid_key) == Decimal(5) - record.cost


def test_it_limits_a_responses_call(client, prepaid_key, upstream):
    response = post(client, "/v1/responses", {"model": "llama3.2", "input": LONG}, prepaid_key)
    assert response.status_code == 200
    assert sent_upstream(upstream)["max_tokens"] == 100  # chat, to an Ollama upstream
    answer = response.json()
    assert answer["status"] == "incomplete"
    assert answer["incomplete_details"] == {"reason": "max_output_tokens"}
    assert answer["usage"]["output_tokens"] == 100


def test_it_limits_a_responses_call_sent_natively(client, prepaid_key, upstream):
    from proxy.models import Model, Upstream, UpstreamKind

    from .conftest import deploy

    server = Upstream.objects.create(
        name="fake-responses", kind=UpstreamKind.OPENAI, base_url=f"{upstream.url}/v1",
        timeout=5, serves_responses=True,
    )  # fmt: skip
    model = Model.objects.create(
        name="gpt-native", input_price_per_mtok=1000, output_price_per_mtok=2000
    )
    deploy(model, server, "gpt-4o")
    body = {"model": "gpt-native", "input": LONG, "max_output_tokens": 100_000}
    response = post(client, "/v1/responses", body, prepaid_key)
    assert response.status_code == 402  # 100,000 output tokens cannot be held
    del body["max_output_tokens"]
    response = post(client, "/v1/responses", body, prepaid_key)
    assert response.status_code == 200
    sent = sent_upstream(upstream)
    assert upstream.requests[-1]["path"] == "/v1/responses"
    assert sent["max_output_tokens"] == 100
    assert response.json()["status"] == "incomplete"
    assert balance(prepaid_key) >= 0


@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
def test_it_limits_an_ollama_api_chat(client, prepaid_key, upstream, stream):
    body = {"model": "llama3.2", "stream": stream, "messages": [{"role": "user", "content": LONG}]}
    response = client.post(
        "/api/chat", json.dumps(body), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {prepaid_key.secret}",
    )  # fmt: skip
    assert response.status_code == 200
    assert sent_upstream(upstream)["max_tokens"] == 100  # num_predict, as Ollama's /v1 takes it
    if stream:
        final = json.loads(b"".join(response.streaming_content).splitlines()[-1])
    else:
        final = response.json()
    assert (final["done_reason"], final["eval_count"]) == ("length", 100)
    assert balance(prepaid_key) >= 0
