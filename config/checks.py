"""Tollgate's own `manage.py check --deploy` checks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning


def console_email(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """E-mails written to stdout in production: reset and invitation links end up in the logs."""
    if settings.DEBUG or settings.EMAIL_BACKEND != settings.CONSOLE_EMAIL_BACKEND:
        return []
    return [
        Warning(
            "EMAIL_BACKEND is the console backend: password-reset and invitation e-mails, their "
            "links included, are written to the logs instead of being sent.",
            hint="Set EMAIL_BACKEND to an SMTP (or other) backend and unset EMAIL_CONSOLE_ALLOWED.",
            id="tollgate.W001",
        )
    ]
