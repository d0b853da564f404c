"""The harness itself: the live gateway answers both workspaces' keys through the fake upstream
and meters each call in its own workspace."""

from __future__ import annotations

import requests

from tests.clients.conftest import Gateway


def chat(gateway: Gateway, key: str) -> requests.Response:
    return requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "llama3.2", "messages": [{"role": "user", "content": "Hello there"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_it_serves_each_key_and_records_the_call_in_its_workspace(gateway: Gateway) -> None:
    before = len(gateway.records())
    other_before = len(gateway.records(gateway.other_workspace))

    answer = chat(gateway, gateway.key)
    other = chat(gateway, gateway.other_key)

    assert answer.status_code == 200, answer.text
    assert other.status_code == 200, other.text
    assert answer.json()["choices"][0]["message"]["content"]
    record = gateway.wait_for_records(before + 1)[0]
    assert (record["endpoint"], record["status"], record["served_model"]) == (
        "chat_completions",
        200,
        "llama3.2",
    )
    assert record["completion_tokens"] == answer.json()["usage"]["completion_tokens"]
    assert len(gateway.wait_for_records(other_before + 1, gateway.other_workspace)) == (
        other_before + 1
    )
    assert any(r["model"] == "llama3.2" for r in gateway.upstream.requests)


def test_it_refuses_a_key_it_never_issued(gateway: Gateway) -> None:
    assert chat(gateway, "sk-tg-not-a-key").status_code == 401
