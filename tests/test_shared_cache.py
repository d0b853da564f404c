"""With the shared cache unreachable, a valid key still authenticates (from the database)."""

from __future__ import annotations


def test_it_authenticates_from_the_database_when_the_cache_is_down(client, key_a, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    response = client.get("/api/v1/key", HTTP_X_API_KEY=key_a.secret)
    assert response.status_code == 200
    assert response.json()["id"] == str(key_a.key.pk)
