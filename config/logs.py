"""Logging: JSON lines (production) or readable text (development), the request id on every line
logged during a request, and a filter that keeps secrets out of every log.

The request's log context is one contextvar, set by proxy.middleware.RequestIdMiddleware when a
request starts and cleared when it is finished (Django's request_finished, after a streamed body
has been sent, so the lines a stream logs carry its id too). It holds references only (the
request's headers, its canonical body once the router has it, the upstream keys it used): the
work of redacting them is done when a line is logged, never on the hot path.

Named `logs`, not `logging`, so that nothing can shadow the standard library's module.

Redacted, in the message, the exception text and string extras:
- Tollgate keys (`sk-tg-…`) and other providers' key formats (`sk-…`, `sk-ant-…`, `AIza…`, …);
- any value after `Bearer`, and after `X-API-Key`, `api_key`, `authorization`, `token`,
  `password`, `secret` followed by `:` or `=`;
- the exact API key the request authenticated with and the upstream keys the router used for it;
- the token of an invitation (`/invite/<token>/`) or password-reset (`/reset/<uid>/<token>/`)
  link in a path;
- the request's prompt text (message contents, prompt, input, system), unless LOG_PROMPTS is on;
- extras named like a secret (api_key, authorization, password, …) or like a prompt (prompt,
  messages, body, …; kept when LOG_PROMPTS is on).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
PROMPT_REDACTED = "[prompt redacted]"
MIN_PROMPT_PART = 4  # shorter fragments ("ok", "hi") are left alone: they would mangle lines


@dataclass
class RequestLog:
    """What the lines logged during one request need to know about it."""

    request_id: str
    meta: dict[str, Any] | None = None  # the request's headers (WSGI environ), for its key
    body: dict[str, Any] | None = None  # the canonical body, once the router has it
    secrets: list[str] = field(default_factory=list)  # upstream keys used for this request


_current: contextvars.ContextVar[RequestLog | None] = contextvars.ContextVar(
    "tollgate_request_log", default=None
)


def bind_request(request_id: str, meta: dict[str, Any] | None = None) -> None:
    """The request this thread now serves (RequestIdMiddleware)."""
    _current.set(RequestLog(request_id, meta))


def unbind_request(**_: Any) -> None:
    """The request is finished (a request_finished receiver; config.apps connects it)."""
    _current.set(None)


def current() -> RequestLog | None:
    return _current.get()


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context is not None else None


def note_body(body: dict[str, Any]) -> None:
    """The prompt of the current request, so that it can be kept out of its log lines."""
    context = _current.get()
    if context is not None:
        context.body = body


def note_secret(value: str | None) -> None:
    """A secret the current request used (an upstream key), to be kept out of its log lines."""
    if value:
        context = _current.get()
        if context is not None:
            context.secrets.append(value)


# --- redaction ----------------------------------------------------------------------------------

_KEY_PATTERNS = re.compile(
    r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{7,}"  # Tollgate sk-tg-, OpenAI sk-/sk-proj-, Anthropic sk-ant-
    r"|\bAIza[0-9A-Za-z_\-]{20,}"  # Google
    r"|\b(?:gsk|hf|xai|r8|pplx|sk_live|sk_test|ghp|gho|glpat)[_\-][A-Za-z0-9_\-]{16,}"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+")
_ASSIGNED = re.compile(
    r"(?i)((?:x-api-key|x-goog-api-key|api[_\-]?key|apikey|authorization|access[_\-]?token"
    r"|auth[_\-]?token|token|password|passwd|secret)[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[redacted|bearer\s)[^\s'\",;&}]+"
)
_QUERY = re.compile(r"(?i)([?&](?:key|sig|signature|code)=)[^&#\s'\"]+")
# Paths that carry a token: an invitation link, a password reset link (not its set-password step).
TOKEN_PATHS = re.compile(
    r"(/invite/)[^/?#\s'\"]+"
    r"|(/reset/[^/?#\s'\"]+/)(?!set-password/|done/)[^/?#\s'\"]+"
)


def redact_token_paths(text: str) -> str:
    return TOKEN_PATHS.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


_KEY_HEADERS = ("HTTP_X_API_KEY", "HTTP_API_KEY", "HTTP_X_GOOG_API_KEY")
_PROMPT_FIELDS = ("messages", "prompt", "input", "system", "instructions")

SECRET_EXTRAS = frozenset(
    {"api_key", "apikey", "key", "secret", "authorization", "password", "token", "upstream_key"}
)
PROMPT_EXTRAS = frozenset({"prompt", "messages", "body", "content", "input", "system"})


def _request_secrets(context: RequestLog) -> list[str]:
    values = list(context.secrets)
    meta = context.meta or {}
    authorization = meta.get("HTTP_AUTHORIZATION", "")
    if authorization:
        values.append(authorization.partition(" ")[2].strip() or authorization.strip())
    values += [meta[name].strip() for name in _KEY_HEADERS if meta.get(name)]
    return [v for v in values if len(v) >= 6]


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        if len(value.strip()) >= MIN_PROMPT_PART:
            found.append(value.strip())
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, found)


def prompt_parts(body: dict[str, Any]) -> list[str]:
    """The prompt's strings, longest first (a long one may contain a shorter one)."""
    found: list[str] = []
    for name in _PROMPT_FIELDS:
        if name == "messages" and isinstance(body.get(name), list):
            for message in body[name]:
                if isinstance(message, dict):
                    _strings(message.get("content"), found)
                    for call in message.get("tool_calls") or ():
                        if isinstance(call, dict):
                            _strings((call.get("function") or {}).get("arguments"), found)
        else:
            _strings(body.get(name), found)
    return sorted(set(found), key=len, reverse=True)


def log_prompts() -> bool:
    try:
        from django.conf import settings

        return bool(getattr(settings, "LOG_PROMPTS", False))
    except Exception:  # settings not configured (a gunicorn master's own lines)
        return False


def redact(text: str, context: RequestLog | None = None, *, prompts: bool | None = None) -> str:
    """The text with every secret (and, unless prompt logging is on, prompt text) replaced."""
    if not text:
        return text
    if context is not None:
        for secret in _request_secrets(context):
            if secret in text:
                text = text.replace(secret, REDACTED)
        if context.body and not (log_prompts() if prompts is None else prompts):
            for part in prompt_parts(context.body):
                if part in text:
                    text = text.replace(part, PROMPT_REDACTED)
    text = _KEY_PATTERNS.sub(REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _ASSIGNED.sub(r"\1" + REDACTED, text)
    text = redact_token_paths(text)
    return _QUERY.sub(r"\1" + REDACTED, text)


_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "request_id", "taskName"}
)


class RequestContextFilter(logging.Filter):
    """Adds `request_id` (or "-") to every record and redacts its message, exception text and
    string extras. On the handler, so that it sees the lines of every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if not hasattr(record, "request_id") or record.request_id in (None, "-"):
            record.request_id = context.request_id if context is not None else "-"
        if getattr(record, "_tollgate_redacted", False):
            return True
        record._tollgate_redacted = True
        prompts = log_prompts()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message, context, prompts=prompts), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text, context, prompts=prompts)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, context, prompts=prompts)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD or name.startswith("_"):
                continue
            lowered = name.lower()
            if lowered in SECRET_EXTRAS:
                setattr(record, name, REDACTED)
            elif lowered in PROMPT_EXTRAS and not prompts:
                setattr(record, name, PROMPT_REDACTED)
            elif isinstance(value, str):
                setattr(record, name, redact(value, context, prompts=prompts))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, process, the
    exception's text, and the record's simple extras (strings, numbers, booleans)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "process": record.process,
        }
        if line["request_id"] == "-":
            line["request_id"] = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        for name, value in record.__dict__.items():
            if name in _STANDARD or name.startswith("_") or name in line:
                continue
            if value is None or isinstance(value, str | int | float | bool):
                line[name] = value
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING for LOG_FORMAT json|text."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": "config.logs.RequestContextFilter"}},
        "formatters": {
            "json": {"()": "config.logs.JsonFormatter"},
            "text": {"format": TEXT_FORMAT},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "text",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console and mail_admins handlers would bypass the filter: dropped,
            # its lines reach ours through the root logger.
            "django": {"level": "INFO", "propagate": True},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "django.db.backends": {"level": "WARNING"},
        },
    }


def _connect() -> None:
    from django.core.signals import request_finished

    request_finished.connect(unbind_request, dispatch_uid="tollgate.logs.unbind_request")


_connect()
