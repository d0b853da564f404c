"""Production settings refuse to start unsafe, and pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-production-secret-for-the-deploy-check-" + "z" * 20,
    "API_KEY_PEPPER": "p" * 40,
    "ALLOWED_HOSTS": "gateway.example.com",
    "PUBLIC_BASE_URL": "https://gateway.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in GOOD}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_it_refuses_to_start_without_a_secret_key() -> None:
    result = manage("check", **{**GOOD, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_the_development_secret_key() -> None:
    result = manage("check", **{**GOOD, "SECRET_KEY": "dev-insecure-tollgate-secret-key-change-me"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_it_refuses_a_missing_pepper() -> None:
    result = manage("check", **{**GOOD, "API_KEY_PEPPER": ""})
    assert result.returncode != 0
    assert "API_KEY_PEPPER" in result.stderr


def test_it_passes_the_deployment_checks_in_production() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **GOOD)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_refuses_the_console_mail_backend_in_production() -> None:
    """It would write password-reset and invitation links to the logs."""
    without = {k: v for k, v in GOOD.items() if k != "EMAIL_BACKEND"}
    result = manage("check", **without)
    assert result.returncode != 0
    assert "EMAIL_CONSOLE_ALLOWED" in result.stderr
    console = manage(
        "check", **{**GOOD, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
    assert console.returncode != 0


def test_it_warns_in_the_deploy_check_when_the_console_backend_is_allowed() -> None:
    without = {k: v for k, v in GOOD.items() if k != "EMAIL_BACKEND"}
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **without, EMAIL_CONSOLE_ALLOWED="1"
    )
    assert result.returncode != 0
    assert "tollgate.W001" in result.stderr
