"""Codex CLI (`@openai/codex`) headless: `codex exec` with a custom provider on the gateway's /v1
(wire_api "responses", the only one Codex still speaks), as the Docs page tells users to set it
up. The fake upstream answers a request that offers tools with a call to the first one, so the
turn runs a tool, sends its output back (Codex replays the whole input: store = false) and ends
with the model's answer."""

from __future__ import annotations

import json
import os
import subprocess

from tests.clients.conftest import Gateway, client_version, node_bin

CONFIG = """\
model = "{model}"
model_provider = "tollgate"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[model_providers.tollgate]
name = "Tollgate"
base_url = "{base_url}/v1"
env_key = "TOLLGATE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
"""


def codex(gateway: Gateway, prompt: str, *extra: str, model: str = "llama3.2"):
    program = node_bin("codex")
    home = gateway.home_dir("codex")
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(CONFIG.format(model=model, base_url=gateway.url))
    project = home / "project"
    project.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "TOLLGATE_API_KEY": gateway.key,
        "NO_COLOR": "1",
        "RUST_LOG": "warn",
    }
    version = subprocess.run([program, "--version"], capture_output=True, text=True, env=env)
    client_version("Codex CLI", version.stdout.split()[-1] if version.stdout else "?")
    return subprocess.run(
        [program, "exec", "--skip-git-repo-check", "--json", "-C", str(project), *extra, prompt],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def test_codex_exec_runs_a_turn_with_a_tool_call(gateway: Gateway) -> None:
    before = len(gateway.records())
    gateway.upstream.clear()

    done = codex(gateway, "List the files here, then tell me what you found.")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    items = [e["item"] for e in events if e["type"] == "item.completed"]
    [command] = [i for i in items if i["type"] == "command_execution"]
    assert command["command"].endswith("sample")  # the fake's call with its sample argument
    assert "sample: not found" in command["aggregated_output"]
    [answer] = [i for i in items if i["type"] == "agent_message"]
    assert answer["text"].startswith("The tool returned: ")
    assert events[-1]["type"] == "turn.completed"
    assert events[-1]["usage"]["input_tokens"] > 0
    # Two calls to the upstream: tools offered, then the whole conversation replayed with the
    # tool's output (Codex stores nothing: store = false).
    first, second = (r["body"] for r in gateway.upstream.requests)
    assert first["stream"] is True and first["tools"]
    calls = [m for m in second["messages"] if m.get("tool_calls")]
    outputs = [m for m in second["messages"] if m["role"] == "tool"]
    assert [o["tool_call_id"] for o in outputs] == [calls[-1]["tool_calls"][0]["id"]]
    records = gateway.wait_for_records(before + 2)[:2]
    assert {(r["endpoint"], r["dialect"], r["status"]) for r in records} == {
        ("responses", "responses", 200)
    }
    assert all(r["stream"] and r["completion_tokens"] > 0 for r in records)


def test_codex_reports_a_stream_the_upstream_broke_off(gateway: Gateway) -> None:
    before = len(gateway.records())

    done = codex(gateway, "Tell me a story [[tokens:40]] [[drop_after:4]]")

    assert done.returncode != 0
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    [failed] = [e for e in events if e["type"] == "turn.failed"]
    assert "The upstream stream broke off" in failed["error"]["message"]
    [record] = gateway.wait_for_records(before + 1)[:1]
    assert (record["endpoint"], record["status"], record["incomplete"]) == ("responses", 502, True)
