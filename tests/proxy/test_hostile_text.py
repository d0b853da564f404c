"""Strings PostgreSQL cannot store (NUL, lone surrogates) are refused where clients send them,
with a 400 naming the field in the endpoint's own format; counts an upstream reports are
clamped to what a usage record holds, and marked."""

from __future__ import annotations

import json

import pytest

from billing.models import UsageRecord

NUL = "\u0000"
LONE = "\ud800"


def post(client, path: str, raw: bytes, key, **headers):
    return client.post(
        path, data=raw, content_type="application/json", HTTP_X_API_KEY=key.secret, **headers
    )


def chat(**overrides) -> dict:
    return {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], **overrides}


# (id, body, the field named)
HOSTILE = [
    ("nul-in-model", chat(model=f"evil{NUL}model"), "model"),
    ("nul-in-user", chat(user=f"a{NUL}b"), "user"),
    ("surrogate-in-user", chat(user=f"x{LONE}"), "user"),
    (
        "surrogate-in-content",
        chat(messages=[{"role": "user", "content": f"x{LONE}"}]),
        "messages[0].content",
    ),
    (
        "nul-deep-in-tools",
        chat(
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "parameters": {"type": "object", "description": f"a{NUL}"},
                    },
                }
            ]
        ),
        "tools[0].function.parameters.description",
    ),
    ("nul-in-a-field-name", chat(metadata={f"k{NUL}": "v"}), "metadata"),
]


@pytest.mark.parametrize(("body", "param"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_it_refuses_unstorable_text_naming_the_field(client, gateway, key_a, upstream, body, param):
    response = post(client, "/v1/chat/completions", json.dumps(body).encode(), key_a)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["message"].startswith(f"{param}: ")
    assert error["message"].endswith("must not contain NUL characters or lone surrogates")
    assert upstream.requests == []
    assert UsageRecord.objects.get().status == 400  # the refusal itself is recorded


def test_it_refuses_them_in_anthropics_format_on_messages(client, gateway, key_a, upstream):
    body = {"model": "llama3.2", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    body["system"] = f"be{NUL}nice"
    response = post(client, "/v1/messages", json.dumps(body).encode(), key_a)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("system: ")
    assert upstream.requests == []


def test_it_accepts_escaped_text_that_is_not_a_nul(client, gateway, key_a, upstream):
    """A literal backslash-u0000 in the text, a real astral character, an accented one."""
    content = "\\u0000 is how JSON writes NUL; 😀 é"
    response = post(client, "/v1/chat/completions", json.dumps(chat(
        messages=[{"role": "user", "content": content}])).encode(), key_a)  # fmt: skip
    assert response.status_code == 200


def test_it_stores_an_end_user_header_it_cannot_refuse_safely(client, gateway, key_a, upstream):
    response = post(
        client, "/v1/chat/completions", json.dumps(chat()).encode(), key_a,
        HTTP_X_END_USER=f"bad{NUL}user{LONE}",
    )  # fmt: skip
    assert response.status_code == 200
    assert UsageRecord.objects.get().end_user == "bad\ufffduser\ufffd"


@pytest.mark.parametrize(
    ("reported", "stored"), [(-1_000_000, 0), (2**40, 2**31 - 1)], ids=["negative", "huge"]
)
def test_it_clamps_and_marks_counts_an_upstream_reports(
    client, gateway, key_a, upstream, reported, stored
):
    body = chat(messages=[{"role": "user", "content": f"hi [[prompt_tokens:{reported}]]"}])
    response = post(client, "/v1/chat/completions", json.dumps(body).encode(), key_a)
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == stored
    record = UsageRecord.objects.get()
    assert (record.status, record.prompt_tokens, record.tokens_estimated) == (200, stored, True)
