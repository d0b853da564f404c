"""Claude Code, headless (`claude -p … --output-format json`), against the live gateway with only
ANTHROPIC_BASE_URL and a Tollgate key: its default model, `--model sonnet`, a tool it runs
itself (the fake upstream calls a tool whenever tools are offered), and `--continue`.

Everything Claude Code would reach besides the gateway is off by its own settings: a scratch
HOME and CLAUDE_CONFIG_DIR, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (telemetry, error reports,
auto-updates, feedback), DISABLE_AUTOUPDATER; nothing of it is patched."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.clients.conftest import Gateway, client_version, node_bin


def claude(
    gateway: Gateway,
    project: Path,
    prompt: str,
    *options: str,
    key: str | None = None,
    key_variable: str = "ANTHROPIC_API_KEY",
) -> dict[str, Any]:
    """`claude -p <prompt> --output-format json <options>`: one headless run in `project` (a new folder of its own: Claude Code keeps sessions per
    directory); its JSON result."""
    program = node_bin("claude")
    home = project.parent / f"{project.name}-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": gateway.url,
        key_variable: key or gateway.key,  # ANTHROPIC_API_KEY (x-api-key) or _AUTH_TOKEN (Bearer)
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        "IS_SANDBOX": "1",
    }
    version = subprocess.run(
        [program, "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    client_version("Claude Code", version.stdout.split()[0])
    done = subprocess.run(
        [program, "-p", prompt, "--output-format", "json", *options],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    assert done.stdout.strip(), f"no output (exit {done.returncode}):\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["_exit"] = done.returncode
    result["_stderr"] = done.stderr
    return result


def test_it_answers_claude_code_with_its_default_model(gateway: Gateway) -> None:
    """Its default model (an Opus name) on the flagship tier, with the system messages it puts
    inside `messages` (its agent and skill lists, mid-conversation-system beta) kept in place."""
    project = gateway.home_dir("claude-default")
    before = len(gateway.records())
    gateway.upstream.clear()

    result = claude(gateway, project, "Say hello in five words.", "--tools", "")

    assert result["_exit"] == 0 and result["is_error"] is False, result
    assert result["result"]
    records = gateway.wait_for_records(before + 1)[: len(gateway.records()) - before]
    assert records and all(r["status"] == 200 for r in records), records
    main = [r for r in records if r["requested_model"].startswith("claude-opus")]
    assert main and {r["served_model"] for r in main} == {"glm-4.5-air"}, records
    sent = [r["body"]["messages"] for r in gateway.upstream.requests if r["model"] == "glm-4.5-air"]
    assert any(m["role"] == "system" for messages in sent for m in messages[1:]), sent


def test_it_answers_claude_code_with_sonnet(gateway: Gateway) -> None:
    """`--model sonnet` on the middle tier, the key given as ANTHROPIC_AUTH_TOKEN (Bearer)."""
    project = gateway.home_dir("claude-sonnet")
    before = len(gateway.records())

    result = claude(
        gateway,
        project,
        "Say hello.",
        "--model",
        "sonnet",
        "--tools",
        "",
        key_variable="ANTHROPIC_AUTH_TOKEN",
    )

    assert result["_exit"] == 0 and result["is_error"] is False, result
    new = gateway.wait_for_records(before + 1)[: len(gateway.records()) - before]
    assert any(
        r["requested_model"].startswith("claude-sonnet") and r["served_model"] == "qwen2.5:7b"
        for r in new
    ), new


def test_it_carries_a_tool_round_trip_and_a_continued_conversation(gateway: Gateway) -> None:
    project = gateway.home_dir("claude-tool")
    (project / "notes.txt").write_text("The gateway works.\n")
    gateway.upstream.clear()

    first = claude(
        gateway, project, "Which files are here?", "--tools", "Glob", "--allowedTools", "Glob"
    )

    assert first["_exit"] == 0 and first["is_error"] is False, first
    assert first["num_turns"] >= 2, first  # the tool call, then the answer to its result
    assert "The tool returned" in first["result"], first  # the fake's answer to a tool result
    sent = [r["body"] for r in gateway.upstream.requests if r["body"].get("messages")]
    tool_results = [m for body in sent for m in body["messages"] if m.get("role") == "tool"]
    assert tool_results, "Claude Code never sent the tool's result back"

    again = claude(gateway, project, "And what did you find?", "--continue", "--tools", "")

    assert again["_exit"] == 0 and again["is_error"] is False, again
    assert again["session_id"] == first["session_id"]
    replayed = gateway.upstream.requests[-1]["body"]["messages"]
    assert any("Which files are here?" in json.dumps(m) for m in replayed)


def test_it_reports_a_key_it_never_issued_to_claude_code(gateway: Gateway) -> None:
    project = gateway.home_dir("claude-bad-key")

    started = time.monotonic()
    result = claude(gateway, project, "Hello", "--tools", "", key="sk-tg-not-a-key")

    assert (result["is_error"], result["api_error_status"]) == (True, 401), result
    assert "Invalid API key" in result["result"]
    # x-should-retry: false on the 401: Claude Code stops at once, not after ten retries (~3 min)
    assert time.monotonic() - started < 30
