"""The OpenAI Agents SDK (`openai-agents`): its default Runner speaks the Responses API. An agent
with a function tool, run with `Runner.run_sync` against the live gateway (tracing off with the
SDK's own settings, so nothing is sent anywhere else). It runs in a process of its own
(python/agents_turn.py): the SDK's import name `agents` is also the gateway's app's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.clients.conftest import Gateway, client_version, missing_client

SCRIPT = Path(__file__).resolve().parent / "python" / "agents_turn.py"


def sdk_installed() -> bool:
    """Whether the SDK can be imported outside the repository (where `agents` is our app)."""
    found = subprocess.run(
        [sys.executable, "-c", "import agents.run"], cwd="/", capture_output=True, timeout=60
    )
    return found.returncode == 0 and importlib.util.find_spec("openai") is not None


def test_runner_run_sync_calls_a_function_tool_and_answers(gateway: Gateway) -> None:
    if not sdk_installed():
        missing_client("the Python package openai-agents is not installed")
    before = len(gateway.records())
    gateway.upstream.clear()

    done = subprocess.run(
        [sys.executable, str(SCRIPT), f"{gateway.url}/v1", gateway.key, "llama3.2"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "OPENAI_AGENTS_DISABLE_TRACING": "1", "HOME": "/tmp"},
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    client_version("OpenAI Agents SDK", result["version"])
    assert result["tool_calls"] == ["sample"]  # the fake upstream's call, its sample argument
    assert result["final_output"] == "The tool returned: Sunny in sample"
    first, second = (r["body"] for r in gateway.upstream.requests)
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": second["messages"][-2]["tool_calls"][0]["id"],
        "content": "Sunny in sample",
    }
    records = gateway.wait_for_records(before + 2)[:2]
    assert {(r["endpoint"], r["dialect"], r["status"]) for r in records} == {
        ("responses", "responses", 200)
    }
