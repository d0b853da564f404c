"""Tollgate settings: one file, driven by environment variables (documented in .env.example).

Embedded defaults (nothing set): SQLite under var/, in-process cache and counters, Celery on a
file-system broker with no server. Set DATABASE_URL / REDIS_URL for PostgreSQL and Redis.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_int, env_list, env_str, load_dotenv
from config.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")
VAR_DIR = Path(env_str("TOLLGATE_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- core -------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# With DEBUG on, pages still answer the branded 404; DEBUG_404=1 shows Django's technical one.
DEBUG_404 = env_bool("DEBUG_404", False)
DEV_SECRET_KEY = "dev-insecure-tollgate-secret-key-change-me"
SECRET_KEY = env_str("SECRET_KEY") or (DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters when DEBUG is off "
        '(python -c "import secrets; print(secrets.token_urlsafe(64))"), or set DEBUG=1 for '
        "local development."
    )

# Pepper for API-key hashes. Deliberately not SECRET_KEY: rotating the session secret must not
# invalidate every customer's API key.
API_KEY_PEPPER = env_str("API_KEY_PEPPER") or ("dev-api-key-pepper" if DEBUG else "")
if not DEBUG and len(API_KEY_PEPPER) < 32:
    raise ImproperlyConfigured(
        "API_KEY_PEPPER must be set (32+ random characters) when DEBUG is off."
    )
if API_KEY_PEPPER == SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured("API_KEY_PEPPER must differ from SECRET_KEY.")

# Encrypts upstream API keys stored in the catalog (default: derived from SECRET_KEY).
UPSTREAM_KEYS_SECRET = env_str("UPSTREAM_KEYS_SECRET") or ""

PUBLIC_BASE_URL = (env_str("PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = [PUBLIC_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config",
    "accounts",
    "billing",
    "keys",
    "proxy",
    "finetune",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",  # CSP, Permissions-Policy; static files too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "proxy.middleware.RequestIdMiddleware",
    "config.limits.BodyLimitMiddleware",  # 413 before a form or body is read
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.outage.DatabaseUnavailableMiddleware",  # a page needing the database: 503, not 500
    "config.not_found.BrandedNotFoundMiddleware",  # the branded 404 also with DEBUG on
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.workspaces",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # A connection attempt to an unreachable server gives up instead of hanging.
        DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 3)
        if env_bool("DATABASE_POOL", True):
            DATABASES["default"]["OPTIONS"]["pool"] = {
                "min_size": env_int("DATABASE_POOL_MIN", 2),
                "max_size": env_int("DATABASE_POOL_MAX", 20),
                "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
                # After an outage the pool retries with growing pauses; giving up a retry
                # after this long lets the next call try again at once (PostgreSQL outage).
                "reconnect_timeout": env_int("DATABASE_POOL_RECONNECT_TIMEOUT", 5),
            }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "tollgate.sqlite3",
            # A busy web thread waits for the writer instead of failing at once.
            # One connection per thread, kept: opening SQLite costs more than a query.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                # WAL: readers never wait for the writer; NORMAL: no fsync per commit (a crash
                # may lose the last commits, never corrupt the file).
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# Web workers check the database every this many seconds and refuse new calls with 503 while
# it is away (config/dbprobe.py); 0: no probe.
DATABASE_PROBE_SECONDS = env_int("DATABASE_PROBE_SECONDS", 1)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache and counters -----------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX") or "tg",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tollgate",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- background jobs --------------------------------------------------------------------------

CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    # Embedded: a file-system broker, shared by the web process and the worker, no server.
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
    (CELERY_BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "store_processed": False,
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    # A fine-tune job whose worker died is failed within a heartbeat timeout and this period.
    "reap-stale-finetune-jobs": {"task": "finetune.reap_stale_jobs", "schedule": 30.0},
    # A stream whose web process died is settled and recorded as incomplete (billing/lost_streams).
    "sweep-lost-streams": {"task": "billing.sweep_lost_streams", "schedule": 15.0},
    # E-mails at 80 % and 100 % of a workspace's credits or prepaid balance (billing.alerts).
    "send-usage-alerts": {"task": "accounts.send_usage_alerts", "schedule": 300.0},
    # Stored Responses API answers older than RESPONSES_RETENTION_DAYS are deleted.
    "purge-stored-responses": {"task": "proxy.purge_stored_responses", "schedule": 3600.0},
}

# --- fine-tuning ------------------------------------------------------------------------------


def _lora_trainer(configured: str) -> str:
    from importlib.util import find_spec

    if configured:
        return "" if configured.lower() in ("off", "none", "0") else configured
    present = all(find_spec(name) for name in ("torch", "transformers", "peft"))
    return "finetune.trainers.lora.LoraTrainer" if present else ""


def env_json(name: str, default: dict) -> dict:
    import json
    import os

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: expected a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name}: expected a JSON object")
    return value


FINETUNE_DATASET_MAX_BYTES = env_int("FINETUNE_DATASET_MAX_BYTES", 20 * 1024 * 1024)
FINETUNE_DATASET_MAX_RECORDS = env_int("FINETUNE_DATASET_MAX_RECORDS", 50_000)
# Method → trainer (dotted path); empty = not available here (starting such a job: 501).
# lora: FINETUNE_TRAINER_LORA, or by default the LoRA trainer wherever the `train` extra
# (torch, transformers, peft) is installed ("off" disables it); found without importing them.
FINETUNE_TRAINERS = {
    "modelfile": env_str("FINETUNE_TRAINER_MODELFILE")
    or "finetune.trainers.modelfile.ModelfileTrainer",
    "lora": _lora_trainer(env_str("FINETUNE_TRAINER_LORA")),
}
# lora: catalog model name → its trainable weights on training hosts, a Hugging Face-format
# directory (or a hub id already in the host's cache; nothing is downloaded), or
# {"path": ..., "architecture": "LlamaForCausalLM"} where web hosts cannot see the directory.
FINETUNE_LORA_BASE_WEIGHTS = env_json("FINETUNE_LORA_BASE_WEIGHTS", {})
# lora: per plan code ("default" for the others): dataset tokens × epochs of one job, and the
# workspace's lora jobs queued or running at once.
FINETUNE_LORA_LIMITS = env_json(
    "FINETUNE_LORA_LIMITS", {"default": {"max_token_epochs": 20_000_000, "max_concurrent": 1}}
)
FINETUNE_LORA_MICRO_BATCH = env_int("FINETUNE_LORA_MICRO_BATCH", 4)  # per forward pass
FINETUNE_MODELFILE_MAX_EXAMPLE_TOKENS = env_int("FINETUNE_MODELFILE_MAX_EXAMPLE_TOKENS", 8192)
FINETUNE_MODELFILE_MAX_EXAMPLES = env_int("FINETUNE_MODELFILE_MAX_EXAMPLES", 100)
# A running job whose worker has not sent a heartbeat for this long is failed by the reaper.
FINETUNE_HEARTBEAT_TIMEOUT_SECONDS = env_int("FINETUNE_HEARTBEAT_TIMEOUT_SECONDS", 60)

# --- auth, passwords, email -------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
CONSOLE_EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or CONSOLE_EMAIL_BACKEND
# The console backend writes every e-mail, password-reset and invitation links included, to
# stdout (the logs). Production refuses it unless this says it is wanted (a demo, a benchmark);
# `check --deploy` still warns then.
EMAIL_CONSOLE_ALLOWED = env_bool("EMAIL_CONSOLE_ALLOWED", DEBUG)
if EMAIL_BACKEND == CONSOLE_EMAIL_BACKEND and not EMAIL_CONSOLE_ALLOWED:
    raise ImproperlyConfigured(
        "EMAIL_BACKEND is the console backend, which writes password-reset and invitation links "
        "to the logs: set EMAIL_BACKEND (and EMAIL_HOST, ...) for production, or "
        "EMAIL_CONSOLE_ALLOWED=1 if that is really wanted."
    )
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "Tollgate <no-reply@localhost>"
EMAIL_HOST = env_str("EMAIL_HOST") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

# Per-IP and per-email limits on the account forms (django-ratelimit syntax: count/period).
ACCOUNT_RATELIMIT = env_str("ACCOUNT_RATELIMIT") or "10/m"
RATELIMIT_USE_CACHE = "default"
# Behind a load balancer, the client's address is in a header the balancer sets (e.g.
# HTTP_X_REAL_IP); REMOTE_ADDR would be the balancer's own, shared by every visitor.
RATELIMIT_IP_META_KEY = env_str("RATELIMIT_IP_META_KEY") or None

# --- i18n / time ------------------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The gateway's clock for weekly resets and peak hours (seed 000: WIB). The catalog can override.
GATEWAY_TIMEZONE = env_str("GATEWAY_TIMEZONE") or "Asia/Jakarta"

# --- static files -----------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"

# --- API --------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["keys.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["keys.permissions.HasScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.negotiation.AnyAccept",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "proxy.errors.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tollgate API",
    "DESCRIPTION": "OpenAI-, Anthropic- and Ollama-style LLM gateway with metering and limits.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVERS": [{"url": PUBLIC_BASE_URL}],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "finetune.schema.offered_methods",  # `lora` only where a trainer is configured
    ],
}

# How long a process trusts its own copy of a key's authentication (seconds). Revocation and
# plan changes reach every process within this time.
API_KEY_LOCAL_CACHE_SECONDS = env_int("API_KEY_LOCAL_CACHE_SECONDS", 5)
API_KEY_SHARED_CACHE_SECONDS = env_int("API_KEY_SHARED_CACHE_SECONDS", 300)
API_KEY_ROTATION_GRACE_SECONDS = env_int("API_KEY_ROTATION_GRACE_SECONDS", 24 * 3600)

# --- gateway ----------------------------------------------------------------------------------

GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 20 * 1024 * 1024)
# Every other body (dashboard and admin forms, the usage and billing APIs): config/limits.py.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 1024 * 1024)
ROUTER_MAX_ATTEMPTS = env_int("ROUTER_MAX_ATTEMPTS", 3)
ROUTER_DEADLINE_SECONDS = env_int("ROUTER_DEADLINE_SECONDS", 600)
ROUTER_FAILURES_TO_COOL = env_int("ROUTER_FAILURES_TO_COOL", 3)
# Failures an answer to the request may have caused (5xx, invalid answers) cool a deployment for
# everyone only when they come from this many workspaces (else for the failing workspace alone).
ROUTER_WORKSPACES_TO_COOL = env_int("ROUTER_WORKSPACES_TO_COOL", 2)
ROUTER_FAILURE_WINDOW_SECONDS = env_int("ROUTER_FAILURE_WINDOW_SECONDS", 60)
ROUTER_COOLDOWN_SECONDS = env_int("ROUTER_COOLDOWN_SECONDS", 30)
ROUTER_KEY_COOLDOWN_SECONDS = env_int("ROUTER_KEY_COOLDOWN_SECONDS", 60)
ROUTER_RETRY_AFTER_SECONDS = env_int("ROUTER_RETRY_AFTER_SECONDS", 15)
# A stream whose upstream sends nothing for this long (or its upstream's timeout, if shorter)
# ends with a final error event. Below 2/3 of LIMIT_LEASE_SECONDS, a stall never costs a slot.
GATEWAY_STREAM_IDLE_SECONDS = env_int("GATEWAY_STREAM_IDLE_SECONDS", 40)
# Responses API answers stored with `store: true` (previous_response_id, GET/DELETE
# /v1/responses/{id}) are kept this many days, then purged by a beat task.
RESPONSES_RETENTION_DAYS = env_int("RESPONSES_RETENTION_DAYS", 30)
# The demo upstream `make run` starts when no OLLAMA_BASE_URL is configured.
OLLAMA_BASE_URL = env_str("OLLAMA_BASE_URL") or ""
# Customers' own Ollama servers (/api/v1/local/connection) must be at public addresses; these
# CIDRs (comma-separated, e.g. 10.20.0.0/16 for a VPN to customers) are allowed too. Metadata,
# unspecified and multicast addresses never are.
LOCAL_UPSTREAM_ALLOWED_CIDRS = env_list("LOCAL_UPSTREAM_ALLOWED_CIDRS")
for _cidr in LOCAL_UPSTREAM_ALLOWED_CIDRS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"LOCAL_UPSTREAM_ALLOWED_CIDRS: {_exc}") from None
DEMO_UPSTREAM_PORT = env_int("DEMO_UPSTREAM_PORT", 9100)
# The most an upstream's answer may be (a non-streamed body, all of a stream) and any one line
# of a stream: over them the call fails with 502 upstream_error naming the cap. Generous for the
# operator's upstreams (a large embeddings batch), tight for a customer's own server.
UPSTREAM_MAX_BODY_BYTES = env_int("UPSTREAM_MAX_BODY_BYTES", 256 * 1024 * 1024)
UPSTREAM_MAX_LINE_BYTES = env_int("UPSTREAM_MAX_LINE_BYTES", 16 * 1024 * 1024)
LOCAL_UPSTREAM_MAX_BODY_BYTES = env_int("LOCAL_UPSTREAM_MAX_BODY_BYTES", 32 * 1024 * 1024)
LOCAL_UPSTREAM_MAX_LINE_BYTES = env_int("LOCAL_UPSTREAM_MAX_LINE_BYTES", 1024 * 1024)

# Usage records go through a Redis stream to the flusher (manage.py flush_usage) when Redis is
# configured; off, or without Redis, they are written during the request.
USAGE_QUEUE = env_bool("USAGE_QUEUE", True)
# An in-flight slot is a lease: a worker that dies frees it after this long (streams renew it).
LIMIT_LEASE_SECONDS = env_int("LIMIT_LEASE_SECONDS", 60)
# With the live counters' Redis unreachable, admission goes around it (per-process limits,
# credits and balance in PostgreSQL) and tries it again after this many seconds.
LIMITS_RETRY_SECONDS = env_int("LIMITS_RETRY_SECONDS", 2)
# What a host that cannot reach Redis does with calls that spend money (monthly credits, a
# prepaid balance): "refuse" them with 503 (hosts that still reach Redis spend from it, and two
# counts of one balance would spend it twice), or take them from PostgreSQL ("database": sound
# only when no host reaches Redis, e.g. a single host). Free and rate-limited calls are served.
LIMITS_OUTAGE_MONEY = env_str("LIMITS_OUTAGE_MONEY", "refuse")
if LIMITS_OUTAGE_MONEY not in ("refuse", "database"):
    raise ImproperlyConfigured('LIMITS_OUTAGE_MONEY must be "refuse" or "database"')
# Prepaid calls without max_tokens are held back for this many output tokens at admission.
PREPAID_DEFAULT_MAX_TOKENS = env_int("PREPAID_DEFAULT_MAX_TOKENS", 4096)
USAGE_CLAIM_IDLE_MS = env_int("USAGE_CLAIM_IDLE_MS", 30_000)

# --- security (production) --------------------------------------------------------------------

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^api/v1/health$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- logs and metrics -------------------------------------------------------------------------

# json: one JSON object per line (production); text: readable lines (development). Either way
# every line carries the request id and no secret (config/logs.py).
LOG_FORMAT = (env_str("LOG_FORMAT") or ("text" if DEBUG else "json")).lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOG_PROMPTS = env_bool("LOG_PROMPTS", False)  # on: prompt text may appear in log lines
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL") or "INFO")

# GET /metrics (config/metrics.py): a Bearer token, or a scraper in one of these networks.
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be 16+ random characters (or unset).")
# Scrapers from these networks get in without the token. None by default: behind a reverse
# proxy on the same host every client is loopback.
METRICS_ALLOWED_CIDRS = env_list("METRICS_ALLOWED_CIDRS", [])
for _cidr in METRICS_ALLOWED_CIDRS:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_CIDRS: {_exc}") from None
