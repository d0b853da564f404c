"""The playground page: the workspace's chat models with their prices, for every member."""

from __future__ import annotations

import json

from django.test import Client

from billing.models import UsageRecord
from proxy.models import Model


def page(client, persona, slug=None):
    client.force_login(persona.user)
    return client.get(f"/dashboard/w/{slug or persona.workspace.slug}/playground/")


def test_it_offers_the_chat_models_the_plan_allows_with_their_prices(
    client, member, gateway
) -> None:
    response = page(client, member)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="llama3.2" data-input-price="0.050000" data-output-price="0.100000"' in html
    assert 'value="nomic-embed-text"' not in html  # an embedding model cannot chat
    assert 'id="playground-output"' in html and 'data-credits-per-call="1"' in html
    assert "js/playground.js" in html


def test_it_lists_the_workspaces_own_models_and_not_others(
    client, owner, outsider, gateway
) -> None:
    Model.objects.create(name="mine", workspace=owner.workspace)
    Model.objects.create(name="not-mine", workspace=outsider.workspace)

    html = page(client, owner).content.decode()

    assert "mine (yours)" in html
    assert "not-mine" not in html


def test_it_is_not_found_in_another_workspace(client, owner, outsider) -> None:
    assert page(client, outsider, slug=owner.workspace.slug).status_code == 404


def chat(client, persona, body, **headers):
    client.force_login(persona.user)
    url = f"/dashboard/w/{persona.workspace.slug}/playground/chat"
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data, content_type="application/json", **headers)


HELLO = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}


def test_it_calls_a_model_as_the_signed_in_member_with_no_key(client, member, gateway) -> None:
    response = chat(client, member, {**HELLO, "temperature": 0.3, "max_tokens": 50})

    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["message"]["content"]
    assert response.json()["model"] == "llama3.2"
    [record] = UsageRecord.objects.filter(workspace=member.workspace)
    assert (record.dialect, record.endpoint, record.key_id) == (
        "playground",
        "chat_completions",
        None,
    )
    assert record.credits == 1  # metered and charged like /v1/chat/completions
    assert record.prompt_tokens > 0 and record.status == 200


def test_it_streams_with_the_usage_at_the_end(client, member, gateway) -> None:
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}

    response = chat(client, member, body)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = b"".join(response.streaming_content).decode()
    assert '"usage"' in events and events.rstrip().endswith("data: [DONE]")
    assert UsageRecord.objects.get(workspace=member.workspace).stream is True


def test_it_answers_bad_bodies_in_openais_error_format(client, member, gateway) -> None:
    for body, param in [
        ({**HELLO, "temperature": "hot"}, "temperature"),
        ({**HELLO, "model": "gpt-5"}, "model"),
        ({**HELLO, "max_tokens": [1] * 10}, "max_tokens"),
    ]:
        response = chat(client, member, body)
        assert 400 <= response.status_code < 500, (body, response.content)
        error = response.json()["error"]
        assert error["message"], body
        if param:
            assert param in (error.get("param") or "") + error["message"], error
    not_json = chat(client, member, b"\x00{")
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"


def test_it_needs_a_signed_in_member_and_the_csrf_token(owner, outsider, gateway) -> None:
    anonymous = Client()
    url = f"/dashboard/w/{owner.workspace.slug}/playground/chat"
    assert anonymous.post(url, HELLO, content_type="application/json").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner.user)
    assert strict.post(url, HELLO, content_type="application/json").status_code == 403
    assert chat(Client(), outsider, HELLO, **{}).status_code == 200  # their own workspace
    other = Client()
    other.force_login(outsider.user)
    assert other.post(url, HELLO, content_type="application/json").status_code == 404
    assert not UsageRecord.objects.filter(workspace=owner.workspace).exists()
