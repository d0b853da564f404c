"""The Vercel AI SDK's Anthropic provider (`createAnthropic({baseURL, apiKey})`) against the
live gateway: generateText, streamText, and a generateText turn whose tool the model calls and
whose result it answers (tests/clients/node/vercel_anthropic.mjs)."""

from __future__ import annotations

import json

from tests.clients.conftest import (
    Gateway,
    client_version,
    node_package,
    node_package_version,
    run_node,
)


def test_it_serves_the_vercel_ai_sdk_anthropic_provider(gateway: Gateway, node_version) -> None:
    node_package("@ai-sdk/anthropic")
    client_version("Vercel AI SDK (ai)", node_package_version("ai"))
    client_version("@ai-sdk/anthropic", node_package_version("@ai-sdk/anthropic"))
    before = len(gateway.records())

    done = run_node(
        "vercel_anthropic.mjs", gateway.url + "/v1", gateway.key, "claude-haiku-4-5-20251001"
    )

    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    generated, streamed, tool = answers["generated"], answers["streamed"], answers["tool"]
    assert generated["text"] and generated["finishReason"] == "stop"
    assert generated["usage"]["inputTokens"] > 0 and generated["usage"]["outputTokens"] > 0
    assert streamed["text"] and streamed["deltas"] > 1 and streamed["finishReason"] == "stop"
    assert streamed["usage"]["outputTokens"] > 0
    assert tool["calls"] == ["sample"]  # the fake calls the tool with its schema's sample value
    assert tool["steps"] == 2 and "sunny in sample" in tool["text"]

    records = gateway.wait_for_records(before + 4)[:4]
    assert [r["endpoint"] for r in records] == ["messages"] * 4
    assert {r["served_model"] for r in records} == {"llama3.2"}
    assert [r["stream"] for r in reversed(records)] == [False, True, False, False]
