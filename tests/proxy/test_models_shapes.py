"""GET /v1/models and /v1/models/{id} in the shape the client speaks: OpenAI's list, or
Anthropic's (type, display_name, created_at, has_more, first_id, last_id) for a client that sends
`anthropic-version` (the anthropic SDKs, Claude Code); a model asked for by an alias is reported
under that alias."""

from __future__ import annotations

import re

import anthropic
import pytest

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def get(client, path: str, key, **headers):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {key.secret}", **headers)


def test_it_lists_models_in_anthropics_shape_for_the_anthropic_sdk(anthropic_client) -> None:
    page = anthropic_client.models.list()

    ids = [model.id for model in page.data]
    assert ids == ["anthropic/claude-haiku-4-5-20251001", "llama3.2", "nomic-embed-text"]
    assert all(model.type == "model" and model.display_name == model.id for model in page.data)
    assert (page.has_more, page.first_id, page.last_id) == (False, ids[0], ids[-1])
    assert all(model.created_at.tzinfo is not None for model in page.data)


def test_it_pages_the_anthropic_list_as_anthropic_does(anthropic_client) -> None:
    first = anthropic_client.models.list(limit=2)
    assert [m.id for m in first.data] == ["anthropic/claude-haiku-4-5-20251001", "llama3.2"]
    assert first.has_more is True

    every = [model.id for model in anthropic_client.models.list(limit=1)]  # the SDK pages on
    assert every == ["anthropic/claude-haiku-4-5-20251001", "llama3.2", "nomic-embed-text"]

    before = anthropic_client.models.list(before_id="nomic-embed-text", limit=1)
    assert ([m.id for m in before.data], before.has_more) == (["llama3.2"], True)


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=x", "limit=%C2%B2", "after_id=nobody"]
)
def test_it_refuses_a_bad_page_in_anthropics_shape(client, gateway, key_a, query) -> None:
    response = get(client, f"/v1/models?{query}", key_a, HTTP_ANTHROPIC_VERSION="2023-06-01")

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(query.split("=")[0] + ":")


def test_it_answers_an_anthropic_client_without_a_key_in_its_shape(client, gateway) -> None:
    response = client.get("/v1/models", HTTP_ANTHROPIC_VERSION="2023-06-01")

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_it_retrieves_a_model_by_alias_under_the_alias(anthropic_client, openai_client) -> None:
    model = anthropic_client.models.retrieve("claude-3-5-haiku-20241022")
    assert (model.type, model.id, model.display_name) == (
        "model",
        "claude-3-5-haiku-20241022",
        "claude-3-5-haiku-20241022",
    )

    same = openai_client.models.retrieve("gpt-4o-mini")
    assert (same.id, same.object, same.owned_by) == ("gpt-4o-mini", "model", "tollgate")


def test_it_gives_created_at_in_rfc_3339(client, gateway, key_a) -> None:
    response = get(client, "/v1/models/llama3.2", key_a, HTTP_ANTHROPIC_VERSION="2023-06-01")

    assert response.status_code == 200
    assert RFC3339.match(response.json()["created_at"])


def test_it_keeps_the_openai_shape_without_anthropic_version(client, gateway, key_a) -> None:
    body = get(client, "/v1/models", key_a).json()

    assert body["object"] == "list" and "has_more" not in body
    assert {"id", "object", "created", "owned_by"} <= set(body["data"][0])


def test_it_reports_an_unknown_model_in_anthropics_shape(anthropic_client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client.models.retrieve("no-such-model")
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_it_answers_anthropics_shape_under_api_v1_too(client, gateway, key_a) -> None:
    body = get(client, "/api/v1/models", key_a, HTTP_ANTHROPIC_VERSION="2023-06-01").json()

    assert body["data"][0]["type"] == "model" and "has_more" in body
