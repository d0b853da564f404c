"""Logs: JSON lines with the request id of the request they were logged in, and no secret (API
keys, upstream keys, prompt text unless LOG_PROMPTS is on) in any line."""

# The gateway's fixtures live in tests/proxy/conftest.py; imported here, they are redefined as
# test arguments by design.
# ruff: noqa: F811

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import logs
from config.logs import JsonFormatter, RequestContextFilter, logging_config
from proxy.credentials import seal
from proxy.models import Model, UpstreamKind
from tests.proxy.conftest import (  # the gateway's fixtures: a fake upstream and a catalog for it
    _reset_upstreams,  # noqa: F401
    add_upstream,
    deploy,
    gateway,  # noqa: F401
    upstream,  # noqa: F401
)

ROOT = Path(__file__).resolve().parent.parent
CHAT = "/v1/chat/completions"
TOLLGATE_KEY = "sk-tg-AbCdEfGhIjKlMnOpQrStUv123456"
UPSTREAM_KEY = "upstream-key-f00dfeed-not-a-known-format"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


def attach(formatter: logging.Formatter) -> tuple[logging.Handler, Captured]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestContextFilter())
    logging.getLogger().addHandler(handler)
    return handler, Captured(stream)


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every line logged anywhere, through the production handler's formatter and filter."""
    handler, result = attach(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    yield result
    root.removeHandler(handler)
    root.setLevel(level)
    logs.unbind_request()


def chat(client, key, *, model: str = "llama3.2", content: str = "hello there", **headers):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    return client.post(
        CHAT,
        json.dumps(body),
        content_type="application/json",
        HTTP_X_API_KEY=key.secret,
        **headers,
    )


# --- JSON lines and the request id --------------------------------------------------------------


def test_it_logs_json_lines_with_the_request_id_during_a_request(
    client, gateway, key_a, upstream, captured
) -> None:
    upstream.configure(status=500)  # the router logs the failed attempt
    response = chat(client, key_a, HTTP_X_REQUEST_ID="req-logging-test-1")
    assert response.status_code == 503
    lines = captured.lines()
    router_lines = [line for line in lines if line["logger"] == "proxy.router"]
    assert router_lines, captured.text
    for line in lines:
        assert line["request_id"] == "req-logging-test-1", line
        assert {"time", "level", "logger", "message", "process"} <= set(line)
    assert router_lines[0]["level"] == "WARNING"
    assert "failed" in router_lines[0]["message"]


def test_it_gives_our_own_request_id_when_the_client_sends_none(
    client, gateway, key_a, upstream, captured
) -> None:
    upstream.configure(status=500)
    response = chat(client, key_a)
    lines = [line for line in captured.lines() if line["logger"] == "proxy.router"]
    assert lines and all(line["request_id"] == response["X-Request-Id"] for line in lines)


def test_it_carries_no_request_id_once_the_request_is_finished(
    client, gateway, key_a, captured
) -> None:
    assert chat(client, key_a).status_code == 200
    logging.getLogger("tollgate.test").warning("after the request")
    assert captured.lines()[-1]["request_id"] is None


def test_it_keeps_the_request_id_while_a_stream_is_sent(client, gateway, key_a, captured) -> None:
    body = {"model": "llama3.2", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    response = client.post(
        CHAT, json.dumps(body), content_type="application/json", HTTP_X_API_KEY=key_a.secret,
        HTTP_X_REQUEST_ID="req-stream-7",
    )  # fmt: skip
    for _ in response.streaming_content:  # the body is sent after the view has returned
        logging.getLogger("tollgate.test").info("a chunk went out")
    response.close()
    sent = [line for line in captured.lines() if line["message"] == "a chunk went out"]
    assert sent and all(line["request_id"] == "req-stream-7" for line in sent)


def test_it_writes_readable_text_in_development(captured) -> None:
    handler, text = attach(logging.Formatter(logs.TEXT_FORMAT))
    try:
        logs.bind_request("req-text-1")
        logging.getLogger("tollgate.test").warning("plain words")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "WARNING tollgate.test [req-text-1] plain words" in text.text


def test_it_picks_json_in_production_and_text_in_development() -> None:
    def formatter(**env: str) -> str:
        code = "from django.conf import settings; print(settings.LOG_FORMAT)"
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    production = {
        "DEBUG": "0",
        "SECRET_KEY": "s" * 60,
        "API_KEY_PEPPER": "p" * 40,
        "ALLOWED_HOSTS": "gateway.example.com",
        "EMAIL_CONSOLE_ALLOWED": "1",
    }
    assert formatter(**production, LOG_FORMAT="") == "json"
    assert formatter(DEBUG="1", LOG_FORMAT="") == "text"
    assert formatter(DEBUG="1", LOG_FORMAT="json") == "json"
    config = logging_config(log_format="json", level="INFO")
    assert config["handlers"]["console"]["formatter"] == "json"
    assert config["handlers"]["console"]["filters"] == ["request"]


# --- no secret in a log -------------------------------------------------------------------------


def test_it_redacts_api_keys_and_auth_headers(captured) -> None:
    log = logging.getLogger("tollgate.test")
    log.warning("key %s refused", TOLLGATE_KEY)
    log.warning(
        "headers: Authorization: Bearer some.opaque-token_value and x-api-key: abc123456789"
    )
    log.warning(
        "upstream said api_key=AIzaSyA1234567890abcdefghijklmnopqrstu and sk-ant-api03-xyzxyzxyz"
    )
    log.warning("url https://example.com/v1?key=querysecret123&x=1")
    text = captured.text
    for secret in (
        TOLLGATE_KEY, "some.opaque-token_value", "abc123456789", "AIzaSyA1234567890", "xyzxyzxyz",
        "querysecret123",
    ):  # fmt: skip
        assert secret not in text, secret
    assert text.count("[redacted]") >= 6


def test_it_redacts_the_key_the_request_came_with_and_the_upstream_keys_it_used(captured) -> None:
    logs.bind_request("req-keys", {"HTTP_X_API_KEY": "custom-client-key-0987654321"})
    logs.note_secret(UPSTREAM_KEY)
    log = logging.getLogger("tollgate.test")
    log.error("calling with %s for %s", UPSTREAM_KEY, "custom-client-key-0987654321")
    line = captured.lines()[-1]
    assert UPSTREAM_KEY not in captured.text
    assert "custom-client-key-0987654321" not in captured.text
    assert line["message"] == "calling with [redacted] for [redacted]"
    assert line["request_id"] == "req-keys"


def test_it_redacts_secrets_in_exceptions_and_extras(captured) -> None:
    log = logging.getLogger("tollgate.test")
    try:
        raise RuntimeError(f"upstream refused {TOLLGATE_KEY}")
    except RuntimeError:
        log.exception("call failed", extra={"api_key": "raw-value-42", "upstream": "ollama"})
    line = captured.lines()[-1]
    assert TOLLGATE_KEY not in captured.text and "raw-value-42" not in captured.text
    assert "RuntimeError: upstream refused [redacted]" in line["exception"]
    assert line["api_key"] == "[redacted]" and line["upstream"] == "ollama"


def test_it_keeps_the_prompt_out_unless_prompt_logging_is_on(captured, settings) -> None:
    prompt = "my confidential diagnosis is pneumonia"
    logs.bind_request("req-prompt")
    logs.note_body({"model": "m", "messages": [{"role": "user", "content": prompt}]})
    log = logging.getLogger("tollgate.test")
    log.warning("could not parse %r", prompt)
    log.warning("body", extra={"prompt": prompt})
    assert prompt not in captured.text
    assert "[prompt redacted]" in captured.lines()[0]["message"]
    assert captured.lines()[1]["prompt"] == "[prompt redacted]"

    settings.LOG_PROMPTS = True
    log.warning("could not parse %r", prompt)
    assert prompt in captured.lines()[-1]["message"]


def test_it_never_logs_the_upstream_key_of_a_real_call(
    client, key_a, catalog, upstream, captured
) -> None:
    """An upstream refusing the key: the lines logged during the call name neither key."""
    upstream.configure(require_keys=["something-else"])
    remote = add_upstream(
        upstream, "remote", kind=UpstreamKind.OPENAI, api_keys=[seal(UPSTREAM_KEY)]
    )
    remote.base_url = upstream.url + "/v1"
    remote.save()
    deploy(Model.objects.create(name="remote-model"), remote, "llama3.2")
    prompt = "please summarise the quarterly numbers"
    response = chat(client, key_a, model="remote-model", content=prompt, HTTP_X_REQUEST_ID="req-r")
    assert response.status_code == 503
    lines = captured.lines()
    assert any("cooled" in line["message"] for line in lines)  # the key's cool-down was logged
    assert UPSTREAM_KEY not in captured.text
    assert key_a.secret not in captured.text
    assert prompt not in captured.text
