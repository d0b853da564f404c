from __future__ import annotations


def test_it_reports_every_dependency_up(client, db) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "up",
        "cache": "up",
        "broker": "up",
    }
    assert client.get("/healthz").json()["status"] == "ok"


def test_it_needs_no_key_and_ignores_a_bad_one(client, db) -> None:
    response = client.get("/api/v1/health", HTTP_AUTHORIZATION="Bearer sk-tg-broken")
    assert response.status_code == 200


def test_it_answers_503_when_the_broker_is_down(client, db, settings, tmp_path) -> None:
    from config.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "up"


def test_it_answers_503_when_the_cache_is_down(client, db, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["status"] == "down"
