"""ollama-python, unchanged, against the live gateway: `Client(host=BASE, headers={"Authorization":
"Bearer KEY"})` is all a user changes. list, chat (streamed and not, with a tool), generate,
embed, show; a bad key is a 401 ResponseError; calls are metered as the Ollama dialect."""

from __future__ import annotations

import importlib.metadata

import pytest

from tests.clients.conftest import Gateway, client_version, python_client

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


@pytest.fixture(scope="module")
def ollama():
    module = python_client("ollama")
    client_version("ollama-python", importlib.metadata.version("ollama"))
    return module


def client(ollama, gateway: Gateway, key: str | None = None):
    return ollama.Client(
        host=gateway.url, headers={"Authorization": f"Bearer {key or gateway.key}"}, timeout=30
    )


def test_it_lists_the_models(ollama, gateway: Gateway) -> None:
    listed = client(ollama, gateway).list()
    names = [m.model for m in listed.models]
    assert {"llama3.2", "qwen2.5:7b", "nomic-embed-text"} <= set(names)
    llama = next(m for m in listed.models if m.model == "llama3.2")
    assert llama.modified_at is not None and llama.details.family == "llama"


def test_it_chats_and_is_metered(ollama, gateway: Gateway) -> None:
    before = len(gateway.records())
    answer = client(ollama, gateway).chat(
        model="llama3.2",
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        options={"temperature": 0.2, "num_predict": 6},
    )
    assert answer.done and answer.done_reason == "length"
    assert answer.message.role == "assistant"
    assert len(answer.message.content.split()) == 6
    assert answer.eval_count == 6 and answer.prompt_eval_count > 0
    record = gateway.wait_for_records(before + 1)[0]
    assert (record["endpoint"], record["dialect"], record["status"]) == (
        "ollama_chat",
        "ollama",
        200,
    )
    assert record["completion_tokens"] == 6
    sent = gateway.upstream.requests[-1]["body"]
    assert (sent["max_tokens"], sent["temperature"]) == (6, 0.2)


def test_it_streams_a_chat(ollama, gateway: Gateway) -> None:
    parts = list(
        client(ollama, gateway).chat(
            model="llama3.2", messages=[{"role": "user", "content": "Tell me more"}], stream=True
        )
    )
    assert len(parts) > 2
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert len("".join(p.message.content for p in parts).split()) == 12
    assert parts[-1].eval_count == 12


def test_it_calls_a_tool_and_takes_its_result(ollama, gateway: Gateway) -> None:
    ollama_client = client(ollama, gateway)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = ollama_client.chat(model="llama3.2", messages=messages, tools=[WEATHER])
    call = first.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "sample"}

    messages += [first.message, {"role": "tool", "content": "22 C", "tool_name": "get_weather"}]
    second = ollama_client.chat(model="llama3.2", messages=messages, tools=[WEATHER])
    assert second.message.content == "The tool returned: 22 C"


def test_it_generates(ollama, gateway: Gateway) -> None:
    answer = client(ollama, gateway).generate(
        model="llama3.2", prompt="Write a haiku", system="Be brief.", format="json"
    )
    assert answer.done and answer.response.startswith("{")
    streamed = list(client(ollama, gateway).generate(model="llama3.2", prompt="Hi", stream=True))
    assert streamed[-1].done and "".join(p.response for p in streamed)


def test_it_embeds(ollama, gateway: Gateway) -> None:
    answer = client(ollama, gateway).embed(model="nomic-embed-text", input=["one", "two"])
    assert len(answer.embeddings) == 2 and all(answer.embeddings[0])
    old = client(ollama, gateway).embeddings(model="nomic-embed-text", prompt="one")
    assert list(old.embedding) == list(answer.embeddings[0])


def test_it_shows_a_model(ollama, gateway: Gateway) -> None:
    shown = client(ollama, gateway).show("llama3.2")
    assert shown.modelfile and "FROM llama3.2" in shown.modelfile
    assert "completion" in shown.capabilities
    assert shown.details.family == "llama" and shown.modelinfo
    with pytest.raises(ollama.ResponseError) as caught:
        client(ollama, gateway).show("no-such-model")
    assert caught.value.status_code == 404
    assert caught.value.error == 'model "no-such-model" not found, try pulling it first'


def test_it_refuses_a_bad_key_with_401(ollama, gateway: Gateway) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client(ollama, gateway, "sk-tg-not-a-key").chat(
            model="llama3.2", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401
    with pytest.raises(ollama.ResponseError) as caught:
        client(ollama, gateway, "sk-tg-not-a-key").list()
    assert caught.value.status_code == 401
