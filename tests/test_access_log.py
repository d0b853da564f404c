"""The access log of a real gunicorn (gunicorn.conf.py, `--access-logfile -` as in the Procfile)
never shows an API key sent in the query string, an invitation's token or a password reset's
token: they are written as [redacted]; everything else in the line stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests import servers

KEY = "sk-tg-AbCdEfGhIjKlMnOpQrStUv123456"
INVITE = "inv-Zq8xW3vPq5tLmN0aBcDeFgHiJkLm"
RESET = "c4k8z7-0123456789abcdef0123456789abcdef"


def test_it_keeps_keys_and_link_tokens_out_of_the_access_log(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DEBUG": "1",
        "TOLLGATE_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(migrate, cwd=servers.ROOT, env=env, check=True, timeout=180)
    log = tmp_path / "server.log"
    with servers.Processes() as processes:
        server = processes.gunicorn(
            env, log, "--workers", "1", "--threads", "4", "--access-logfile", "-"
        )
        servers.wait_until_up(server.url, log)
        requests.get(f"{server.url}/v1/models?api_key={KEY}&limit=5", timeout=10)
        requests.get(f"{server.url}/v1/models?key={KEY}", timeout=10)
        requests.get(f"{server.url}/invite/{INVITE}/", timeout=10)
        requests.get(f"{server.url}/accounts/reset/MQ/{RESET}/", timeout=10)
        requests.get(
            f"{server.url}/healthz",
            headers={"Referer": f"{server.url}/invite/{INVITE}/?api_key={KEY}"},
            timeout=10,
        )
        servers.wait_for(lambda: "/healthz" in log.read_text().split("Booting worker")[-1], 10)
    text = log.read_text()

    leaked = [line for line in text.splitlines() if any(s in line for s in (KEY, INVITE, RESET))]
    assert leaked == []
    assert "GET /v1/models?api_key=[redacted]&limit=5 HTTP/1.1" in text
    assert "GET /invite/[redacted]/ HTTP/1.1" in text
    assert "GET /accounts/reset/MQ/[redacted]/ HTTP/1.1" in text
