"""Ollama's native API at the site's root (/api/tags, /api/chat, /api/generate, /api/embed,
/api/embeddings, /api/show, /api/version, /api/ps, GET /), over HTTP with real headers, in front
of the fake upstream."""

from __future__ import annotations

import base64
import json

import pytest

from accounts.models import User
from billing.models import UsageRecord
from proxy.models import Model

from .conftest import add_upstream, deploy

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def bearer(key) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key.secret}"}


def post(client, key, path: str, body: dict, **headers):
    return client.post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        **({**bearer(key), **headers} if key else headers),
    )


def lines(response) -> list[dict]:
    assert response["Content-Type"] == "application/x-ndjson"
    raw = b"".join(response.streaming_content)
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.splitlines()]


def chat_body(content: str = "Why is the sky blue?", **extra) -> dict:
    return {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **extra}


def sent(upstream) -> dict:
    return upstream.requests[-1]["body"]


DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


# --- chat ---------------------------------------------------------------------------------------


def test_it_streams_a_chat_as_ndjson_by_default(client, gateway, key_a) -> None:
    response = post(client, key_a, "/api/chat", chat_body())

    assert response.status_code == 200
    answer = lines(response)
    *pieces, final = answer
    assert pieces and all(p["done"] is False for p in pieces)
    assert all(p["message"]["role"] == "assistant" and p["model"] == "llama3.2" for p in pieces)
    assert all(p["created_at"].endswith("Z") for p in answer)
    text = "".join(p["message"]["content"] for p in pieces)
    assert len(text.split()) == 12  # the fake's reply
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert list(final)[-6:] == [
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ]
    assert final["eval_count"] == 12 and final["prompt_eval_count"] > 0
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.dialect, record.stream, record.status) == (
        "ollama_chat",
        "ollama",
        True,
        200,
    )
    assert (record.prompt_tokens, record.completion_tokens) == (
        final["prompt_eval_count"],
        final["eval_count"],
    )
    assert record.credits == 1  # endpoint_credits.ollama_chat


def test_it_answers_a_chat_in_one_object_with_stream_false(
    client, gateway, key_a, upstream
) -> None:
    response = post(client, key_a, "/api/chat", chat_body(stream=False))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert answer["model"] == "llama3.2" and answer["done"] is True
    assert answer["done_reason"] == "stop"
    assert len(answer["message"]["content"].split()) == 12
    assert all(isinstance(answer[name], int) for name in DURATIONS)
    assert answer["eval_count"] == 12
    assert sent(upstream).get("stream") is not True
    assert UsageRecord.objects.get().stream is False


def test_it_maps_ollama_options_onto_the_upstream_call(client, gateway, key_a, upstream) -> None:
    options = {
        "num_predict": 5,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "seed": 7,
        "stop": ["\n\n", "User:"],
        "repeat_penalty": 1.1,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "num_ctx": 8192,
        "mirostat": 0,
    }
    response = post(
        client,
        key_a,
        "/api/chat",
        chat_body(stream=False, options=options, keep_alive="5m", think=False),
    )

    assert response.status_code == 200
    assert response.json()["done_reason"] == "length"
    assert response.json()["eval_count"] == 5
    body = sent(upstream)
    assert body["max_tokens"] == 5
    assert (body["temperature"], body["top_p"], body["top_k"], body["seed"]) == (0.3, 0.9, 40, 7)
    assert body["stop"] == ["\n\n", "User:"]
    assert body["repetition_penalty"] == 1.1
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, 0.25)
    for dropped in ("options", "num_ctx", "mirostat", "keep_alive", "think"):
        assert dropped not in body


def test_it_sets_no_limit_for_a_negative_or_zero_num_predict(
    client, gateway, key_a, upstream
) -> None:
    for predict in (-1, -2, 0):
        body = chat_body(stream=False, options={"num_predict": predict})
        assert post(client, key_a, "/api/chat", body).status_code == 200
        assert "max_tokens" not in sent(upstream)


def test_it_asks_for_json_with_format(client, gateway, key_a, upstream) -> None:
    response = post(client, key_a, "/api/chat", chat_body(stream=False, format="json"))
    assert response.status_code == 200
    assert isinstance(json.loads(response.json()["message"]["content"]), dict)
    assert sent(upstream)["response_format"] == {"type": "json_object"}

    schema = {
        "type": "object",
        "properties": {"capital": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["capital", "population"],
    }
    response = post(client, key_a, "/api/chat", chat_body(stream=False, format=schema))
    assert json.loads(response.json()["message"]["content"]) == {
        "capital": "sample",
        "population": 1,
    }
    assert sent(upstream)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }


def test_it_answers_tool_calls_with_arguments_as_objects(client, gateway, key_a) -> None:
    body = chat_body("What is the weather in Paris?", tools=[WEATHER])
    answer = post(client, key_a, "/api/chat", {**body, "stream": False}).json()
    call = answer["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == {"city": "sample"}
    assert answer["done_reason"] == "stop"

    streamed = lines(post(client, key_a, "/api/chat", body))
    with_calls = [line for line in streamed if line["message"].get("tool_calls")]
    assert len(with_calls) == 1  # whole, in one line, as Ollama sends them
    assert with_calls[0]["message"]["tool_calls"][0]["function"]["arguments"] == {"city": "sample"}
    assert streamed[-1]["done"] is True


def test_it_sends_a_tool_result_back_as_the_answer_to_its_call(
    client, gateway, key_a, upstream
) -> None:
    history = [
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "22 degrees and sunny", "tool_name": "get_weather"},
    ]
    body = {"model": "llama3.2", "messages": history, "tools": [WEATHER], "stream": False}
    answer = post(client, key_a, "/api/chat", body).json()

    assert answer["message"]["content"] == "The tool returned: 22 degrees and sunny"
    messages = sent(upstream)["messages"]
    call = messages[1]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "22 degrees and sunny",
    }


def test_it_matches_tool_results_by_id_and_takes_arguments_as_a_string(
    client, gateway, key_a, upstream
) -> None:
    calls = [
        {"id": "call_a", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
    ]
    history = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": calls},
        {"role": "tool", "content": "rainy", "tool_call_id": "call_b"},
        {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
    ]
    body = {"model": "llama3.2", "messages": history, "stream": False}
    assert post(client, key_a, "/api/chat", body).status_code == 200
    messages = sent(upstream)["messages"]
    assert [json.loads(c["function"]["arguments"]) for c in messages[1]["tool_calls"]] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == [
        ("call_b", "rainy"),
        ("call_a", "sunny"),
    ]


def test_it_sends_images_as_image_parts(client, gateway, key_a, upstream) -> None:
    body = chat_body(stream=False)
    body["messages"][0]["images"] = [PNG]
    assert post(client, key_a, "/api/chat", body).status_code == 200
    content = sent(upstream)["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "Why is the sky blue?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]


def test_it_answers_a_chat_without_messages_as_a_load(client, gateway, key_a, upstream) -> None:
    answer = post(client, key_a, "/api/chat", {"model": "llama3.2"}).json()
    assert answer["done_reason"] == "load" and answer["done"] is True
    assert upstream.requests == []
    record = UsageRecord.objects.get()  # every authenticated call leaves a record
    assert (record.endpoint, record.status, record.requested_model) == (
        "ollama_chat",
        200,
        "llama3.2",
    )
    assert record.credits == 0


def test_it_accepts_the_latest_tag_and_answers_with_the_name_asked(client, gateway, key_a) -> None:
    answer = post(
        client, key_a, "/api/chat", {**chat_body(stream=False), "model": "llama3.2:latest"}
    ).json()
    assert answer["model"] == "llama3.2:latest"
    assert UsageRecord.objects.get().served_model == "llama3.2"


def test_it_ends_a_broken_stream_with_an_error_line(client, gateway, key_a) -> None:
    answer = lines(post(client, key_a, "/api/chat", chat_body("hi [[drop_after:3]]")))
    assert set(answer[-1]) == {"error"}
    assert not any(line.get("done") for line in answer)
    record = UsageRecord.objects.get()
    assert (record.status, record.incomplete) == (502, True)


@pytest.mark.django_db(transaction=True)
def test_it_bills_what_was_delivered_when_the_client_hangs_up(live_server, upstream) -> None:
    """A real client on a real server reads three lines of a long stream and leaves."""
    import time

    import requests

    from accounts.services import create_workspace
    from billing.catalog import DEFAULT_CATALOG, apply_file
    from billing.models import Plan
    from keys.services import issue_key

    apply_file(DEFAULT_CATALOG)
    workspace = create_workspace(
        "Live", User.objects.create_user("live@x.test"), Plan.objects.get(code="paid_chat")
    )
    key = issue_key(workspace, "live")
    deploy(Model.objects.create(name="long"), add_upstream(upstream, "live-up"), "llama3.2")
    body = {**chat_body("[[tokens:1500]] [[chunk_delay:20]] tell me"), "model": "long"}
    with requests.post(
        live_server.url + "/api/chat",
        json=body,
        headers={"Authorization": f"Bearer {key.secret}"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.headers["Content-Type"] == "application/x-ndjson"
        read = [json.loads(line) for line, _ in zip(response.iter_lines(), range(3), strict=False)]
    assert all(not line["done"] for line in read)

    deadline = time.monotonic() + 30
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status, record.error_code, record.incomplete) == (
        "ollama_chat",
        499,
        "client_disconnected",
        True,
    )
    assert record.tokens_estimated and record.prompt_tokens > 0
    assert 1 <= record.completion_tokens < 1500  # what was delivered, not what was planned


# --- generate -----------------------------------------------------------------------------------


def test_it_streams_a_generation(client, gateway, key_a, upstream) -> None:
    body = {"model": "llama3.2", "prompt": "Why is the sky blue?", "system": "Be brief."}
    answer = lines(post(client, key_a, "/api/generate", body))

    *pieces, final = answer
    assert all(set(p) == {"model", "created_at", "response", "done"} for p in pieces)
    assert len("".join(p["response"] for p in pieces).split()) == 12
    assert final["done"] is True and final["response"] == ""
    assert final["done_reason"] == "stop" and final["eval_count"] == 12
    assert sent(upstream)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.dialect, record.credits) == ("ollama_generate", "ollama", 1)


def test_it_generates_in_one_object_with_images(client, gateway, key_a, upstream) -> None:
    body = {
        "model": "llama3.2",
        "prompt": "What is in this picture?",
        "images": [PNG],
        "stream": False,
        "options": {"num_predict": 4},
        "context": [1, 2, 3],
        "raw": False,
    }
    answer = post(client, key_a, "/api/generate", body).json()

    assert answer["done"] is True and answer["done_reason"] == "length"
    assert len(answer["response"].split()) == 4
    assert all(isinstance(answer[name], int) for name in DURATIONS)
    content = sent(upstream)["messages"][0]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


# --- embeddings ---------------------------------------------------------------------------------


def test_it_embeds_one_and_many_inputs(client, gateway, key_a, upstream) -> None:
    one = post(client, key_a, "/api/embed", {"model": "nomic-embed-text", "input": "hello"})
    assert one.status_code == 200
    assert len(one.json()["embeddings"]) == 1 and len(one.json()["embeddings"][0]) == 16
    many = post(
        client, key_a, "/api/embed", {"model": "nomic-embed-text", "input": ["a", "b", "c"]}
    ).json()
    assert many["model"] == "nomic-embed-text" and len(many["embeddings"]) == 3
    assert many["prompt_eval_count"] > 0 and many["total_duration"] > 0
    old = post(client, key_a, "/api/embeddings", {"model": "nomic-embed-text", "prompt": "hello"})
    assert old.json() == {"embedding": one.json()["embeddings"][0]}
    records = UsageRecord.objects.order_by("started_at")
    assert [r.endpoint for r in records] == ["ollama_embed", "ollama_embed", "ollama_embeddings"]


def test_it_refuses_to_chat_with_an_embedding_model(client, gateway, key_a) -> None:
    response = post(client, key_a, "/api/chat", {**chat_body(), "model": "nomic-embed-text"})
    assert response.status_code == 400
    assert "embedding" in response.json()["error"]


# --- models -------------------------------------------------------------------------------------


@pytest.fixture
def private_models(gateway, upstream, owner, outsider) -> dict[str, Model]:
    """A fine-tune of each workspace, on the shared upstream."""
    ollama = gateway["upstream"]
    mine = Model.objects.create(name="acme-support:v1", workspace=owner.workspace)
    theirs = Model.objects.create(name="bravo-secret:v1", workspace=outsider.workspace)
    deploy(mine, ollama, "llama3.2")
    deploy(theirs, ollama, "llama3.2")
    return {"mine": mine, "theirs": theirs}


def test_it_lists_the_workspaces_models_in_ollamas_shape(client, private_models, key_a) -> None:
    response = client.get("/api/tags", HTTP_X_API_KEY=key_a.secret)

    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert {"llama3.2", "nomic-embed-text", "acme-support:v1"} <= set(models)
    assert "bravo-secret:v1" not in models  # another workspace's fine-tune
    llama = models["llama3.2"]
    assert set(llama) == {"name", "model", "modified_at", "size", "digest", "details"}
    assert llama["model"] == "llama3.2" and len(llama["digest"]) == 64
    assert llama["modified_at"].endswith("Z")
    assert set(llama["details"]) == {
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
    }
    assert llama["details"]["family"] == "llama"


def test_it_shows_a_model_the_key_may_call_and_hides_others(client, private_models, key_a) -> None:
    shown = post(client, key_a, "/api/show", {"model": "llama3.2"})
    assert shown.status_code == 200
    answer = shown.json()
    assert answer["modelfile"].startswith('# Modelfile generated by "ollama show"')
    assert "FROM llama3.2" in answer["modelfile"]
    assert answer["capabilities"] == ["completion", "tools", "vision"]
    assert answer["model_info"]["llama.context_length"] == 131072
    assert set(answer) >= {"parameters", "template", "details", "model_info", "modified_at"}
    assert post(client, key_a, "/api/show", {"model": "acme-support:v1"}).status_code == 200
    assert post(client, key_a, "/api/show", {"name": "nomic-embed-text"}).json()[
        "capabilities"
    ] == ["embedding"]

    for name in ("bravo-secret:v1", "no-such-model"):
        hidden = post(client, key_a, "/api/show", {"model": name})
        assert hidden.status_code == 404
        assert hidden.json() == {"error": f'model "{name}" not found, try pulling it first'}
    chat = post(client, key_a, "/api/chat", {**chat_body(), "model": "bravo-secret:v1"})
    assert chat.status_code == 404
    assert chat.json() == {"error": 'model "bravo-secret:v1" not found, try pulling it first'}


def test_it_answers_version_ps_and_the_root_like_ollama(client, gateway, key_a) -> None:
    version = client.get("/api/version", **bearer(key_a))
    assert version.status_code == 200 and isinstance(version.json()["version"], str)
    assert client.get("/api/ps", **bearer(key_a)).json() == {"models": []}
    root = client.get("/", HTTP_X_API_KEY=key_a.secret)
    assert root.status_code == 200
    assert root.content == b"Ollama is running"
    assert client.head("/", **bearer(key_a)).status_code == 200


def test_it_still_sends_a_browser_at_the_root_to_the_dashboard(client, db) -> None:
    for response in (client.get("/"), client.head("/")):
        assert response.status_code == 302
        assert response["Location"] == "/dashboard/"


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/generate", "/api/embed", "/api/show", "/api/tags", "/api/version"]
)
def test_it_refuses_a_bad_key_in_ollamas_shape(client, gateway, path) -> None:
    response = client.post(
        path, data="{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer sk-nope"
    )
    if path in ("/api/tags", "/api/version"):
        response = client.get(path, HTTP_AUTHORIZATION="Bearer sk-nope")
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


def test_it_answers_a_bad_key_at_the_root_with_401(client, gateway) -> None:
    response = client.get("/", HTTP_AUTHORIZATION="Bearer sk-nope")
    assert response.status_code == 401
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        ("/api/chat", {"model": 42}, "model"),
        ("/api/chat", {"messages": "hi"}, "messages"),
        ("/api/chat", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ("/api/chat", {"messages": [{"role": "user", "content": ["x"]}]}, "messages[0].content"),
        ("/api/chat", {"messages": [{"role": "user", "content": "a\u0000b"}]}, "messages[0].content"),
        ("/api/chat", {"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x", "images": ["%%"]}]}, "messages[0].images[0]"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x", "images": ["data:image/png"]}]}, "messages[0].images[0]"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x", "images": [7]}]}, "messages[0].images[0]"),
        ("/api/generate", {"images": "abc"}, "images"),
        ("/api/chat", {"stream": "yes"}, "stream"),
        ("/api/chat", {"options": []}, "options"),
        ("/api/chat", {"options": {"temperature": "hot"}}, "options.temperature"),
        ("/api/chat", {"options": {"num_predict": 1.5}}, "options.num_predict"),
        ("/api/chat", {"options": {"top_p": 7}}, "options.top_p"),
        ("/api/chat", {"options": {"stop": [1]}}, "options.stop"),
        ("/api/chat", {"format": "yaml"}, "format"),
        ("/api/chat", {"think": "hard"}, "think"),
        ("/api/chat", {"tools": [{"type": "function"}]}, "tools[0].function"),
        ("/api/chat", {"keep_alive": [5]}, "keep_alive"),
        ("/api/chat", {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}]}, "messages[0].tool_calls[0].function.arguments"),
        ("/api/chat", {"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": [1]}}]}]}, "messages[0].tool_calls[0].function.arguments"),
        ("/api/chat", {"messages": [{"role": "tool", "content": "x", "tool_call_id": 5}]}, "messages[0].tool_call_id"),
        ("/api/generate", {"prompt": 5}, "prompt"),
        ("/api/generate", {"system": "\ud83d"}, "system"),
        ("/api/embed", {"input": [1, 2]}, "input"),
        ("/api/embed", {"input": None}, "input"),
        ("/api/embeddings", {"prompt": ["x"]}, "prompt"),
        ("/api/show", {"model": None}, "model"),
    ],
)  # fmt: skip
def test_it_names_the_faulty_field_in_a_400(client, gateway, key_a, path, change, field) -> None:
    body = {**chat_body(), "prompt": "hi", "input": "hi", **change}
    raw = json.dumps(body)  # lone surrogates travel as JSON escapes, as a client would send them
    response = client.post(path, data=raw, content_type="application/json", **bearer(key_a))
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["error"]
    assert response.json()["error"].startswith(f"{field}:"), response.json()


def test_it_refuses_bodies_that_are_not_json_objects(client, gateway, key_a) -> None:
    for raw in ("not json", "[1, 2]", '"x"', ""):
        response = client.post(
            "/api/chat", data=raw, content_type="application/json", **bearer(key_a)
        )
        assert response.status_code == 400
        assert list(response.json()) == ["error"]


def test_it_refuses_a_body_over_the_limit_with_413(client, gateway, key_a, settings) -> None:
    settings.GATEWAY_MAX_BODY_BYTES = 10_000
    body = chat_body("x" * 20_000)
    response = post(client, key_a, "/api/chat", body)
    assert response.status_code == 413
    assert list(response.json()) == ["error"]


def test_it_answers_an_upstream_outage_in_ollamas_shape(client, gateway, key_a) -> None:
    response = post(client, key_a, "/api/chat", chat_body("[[status:429]] hi", stream=False))
    assert response.status_code == 503  # the only deployment is cooling down
    assert list(response.json()) == ["error"] and response["Retry-After"]


def test_it_answers_a_workspace_over_its_rate_limit_with_429(client, gateway, key_a) -> None:
    from keys.models import ApiKey

    ApiKey.objects.filter(pk=key_a.key.pk).update(rpm_limit=1)
    assert post(client, key_a, "/api/chat", chat_body(stream=False)).status_code == 200
    response = post(client, key_a, "/api/chat", chat_body(stream=False))
    assert response.status_code == 429
    assert list(response.json()) == ["error"] and response["Retry-After"]


def test_it_answers_a_prepaid_workspace_without_balance_with_402(
    client, prepaid_key, gateway
) -> None:
    body = chat_body(stream=False, options={"num_predict": 4_000_000})
    response = post(client, prepaid_key, "/api/chat", body)
    assert response.status_code == 402
    assert list(response.json()) == ["error"]


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_it_answers_unknown_ollama_paths_with_a_json_404(client, gateway, method) -> None:
    response = getattr(client, method)("/api/pull")
    assert response.status_code == 404
    assert list(response.json()) == ["error"]
    assert client.post("/api/v1/nothing-here").status_code == 404  # the API's own 404 remains
    assert "error" in client.post("/api/v1/nothing-here").json()


def test_it_keeps_another_workspaces_local_models_out_of_the_list(
    client, gateway, upstream, key_a, outsider
) -> None:
    own_server = add_upstream(upstream, "bravo-box", workspace=outsider.workspace)
    local = Model.objects.create(name="local/qwen2.5:7b", workspace=outsider.workspace)
    deploy(local, own_server, "qwen2.5:7b")
    names = [m["name"] for m in client.get("/api/tags", **bearer(key_a)).json()["models"]]
    assert "local/qwen2.5:7b" not in names
    assert User.objects.count() == 2


@pytest.fixture
def homelab(catalog, gateway, upstream):
    """A workspace on `local_agent_train` (scope local_model_access) with its own server serving
    `local/llama3.2`, a key with every scope of its plan and one with `chat` only."""
    from accounts.services import create_workspace
    from billing.models import Plan
    from keys.services import issue_key

    from ..conftest import _user

    workspace = create_workspace(
        "Homelab", _user("owner@homelab.test"), Plan.objects.get(code="local_agent_train")
    )
    own_server = add_upstream(upstream, "homelab-box", workspace=workspace)
    deploy(Model.objects.create(name="local/llama3.2", workspace=workspace), own_server, "llama3.2")
    return {
        "key": issue_key(workspace, "homelab"),
        "chat_only": issue_key(workspace, "chat only", scopes=["chat"]),
    }


def test_it_lists_and_serves_local_models_to_a_key_that_may_call_them(client, homelab) -> None:
    names = [m["name"] for m in client.get("/api/tags", **bearer(homelab["key"])).json()["models"]]
    assert "local/llama3.2" in names
    answer = post(
        client, homelab["key"], "/api/chat", {**chat_body(stream=False), "model": "local/llama3.2"}
    )
    assert answer.status_code == 200 and answer.json()["message"]["content"]

    chat_only = homelab["chat_only"]
    names = [m["name"] for m in client.get("/api/tags", **bearer(chat_only)).json()["models"]]
    assert "local/llama3.2" not in names
    refused = post(client, chat_only, "/api/chat", {**chat_body(), "model": "local/llama3.2"})
    assert refused.status_code == 403
    assert "local_model_access" in refused.json()["error"]
    assert post(client, chat_only, "/api/show", {"model": "local/llama3.2"}).status_code == 404


def test_it_refuses_a_model_the_key_excludes_with_403(client, gateway, key_a) -> None:
    from keys.models import ApiKey

    ApiKey.objects.filter(pk=key_a.key.pk).update(model_patterns=["nomic-*"])
    response = post(client, key_a, "/api/chat", chat_body())
    assert response.status_code == 403
    assert list(response.json()) == ["error"]
    names = [m["name"] for m in client.get("/api/tags", **bearer(key_a)).json()["models"]]
    assert names == ["nomic-embed-text"]
    shown = post(client, key_a, "/api/show", {"model": "llama3.2"})
    assert shown.status_code == 404
    assert shown.json() == {"error": 'model "llama3.2" not found, try pulling it first'}


def test_it_replays_an_idempotent_repeat_without_a_second_call(
    client, gateway, key_a, upstream
) -> None:
    first = post(client, key_a, "/api/chat", chat_body(), HTTP_IDEMPOTENCY_KEY="order-42")
    first_lines = lines(first)
    again = post(client, key_a, "/api/chat", chat_body(), HTTP_IDEMPOTENCY_KEY="order-42")
    again_lines = lines(again)

    assert again["Idempotent-Replayed"] == "true"
    text = "".join(line["message"]["content"] for line in first_lines)
    assert "".join(line["message"]["content"] for line in again_lines) == text
    assert again_lines[-1]["done"] is True
    assert len(upstream.requests) == 1
