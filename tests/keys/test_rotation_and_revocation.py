from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from keys.authentication import KeyResolver, authenticate_secret
from keys.models import ApiKey
from keys.services import InvalidKeyRequest, revoke_key, rotate_key
from proxy.errors import ApiError

KEY_URL = "/api/v1/key"


def status_of(client, secret: str) -> int:
    return client.get(KEY_URL, HTTP_X_API_KEY=secret).status_code


def test_it_rotates_to_a_successor_with_the_same_settings(client, owner) -> None:
    from keys.services import issue_key

    old = issue_key(
        owner.workspace, "deploy", scopes=["chat"], model_patterns=["llama*"], rpm_limit=7,
        default_tier="fast",
    )  # fmt: skip
    new = rotate_key(old.key)
    assert new.secret != old.secret
    successor = ApiKey.objects.get(pk=new.key.pk)
    assert (successor.name, successor.scopes, successor.model_patterns, successor.rpm_limit) == (
        "deploy", ["chat"], ["llama*"], 7,
    )  # fmt: skip
    assert successor.default_tier == "fast"
    assert ApiKey.objects.get(pk=old.key.pk).replaced_by_id == successor.pk
    assert status_of(client, new.secret) == 200


def test_it_keeps_the_old_key_working_until_the_grace_deadline(client, key_a) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        new = rotate_key(key_a.key, grace_seconds=3600)
        assert status_of(client, key_a.secret) == 200
    with time_machine.travel(start + timedelta(seconds=3599), tick=False):
        assert status_of(client, key_a.secret) == 200
    with time_machine.travel(start + timedelta(seconds=3600), tick=False):
        assert status_of(client, key_a.secret) == 401
        assert status_of(client, new.secret) == 200


def test_it_defaults_to_a_24_hour_grace(key_a) -> None:
    before = timezone.now()
    rotate_key(key_a.key)
    expires = ApiKey.objects.get(pk=key_a.key.pk).expires_at
    assert before + timedelta(hours=24) <= expires <= timezone.now() + timedelta(hours=24)


def test_it_ends_the_old_key_at_once_with_zero_grace(client, key_a) -> None:
    assert status_of(client, key_a.secret) == 200
    new = rotate_key(key_a.key, grace_seconds=0)
    assert status_of(client, key_a.secret) == 401
    assert status_of(client, new.secret) == 200


def test_it_refuses_to_rotate_twice_or_a_revoked_key(key_a) -> None:
    rotate_key(key_a.key)
    with pytest.raises(InvalidKeyRequest, match="already been rotated"):
        rotate_key(key_a.key)
    revoked = revoke_key(rotate_key(ApiKey.objects.get(replaces=key_a.key)).key)
    with pytest.raises(InvalidKeyRequest, match="revoked or expired"):
        rotate_key(revoked)


def test_it_revokes_in_every_process_within_five_seconds(key_a) -> None:
    """Two resolvers are two processes: each has its own local table over the shared cache."""
    process_one, process_two = KeyResolver(local_seconds=5), KeyResolver(local_seconds=5)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert authenticate_secret(key_a.secret, process_one).key_id == str(key_a.key.pk)
        assert authenticate_secret(key_a.secret, process_two).key_id == str(key_a.key.pk)
        revoke_key(ApiKey.objects.get(pk=key_a.key.pk))  # done by a third process (the dashboard)
    for resolver in (process_one, process_two):
        later = time_machine.travel(start + timedelta(seconds=5), tick=False)
        with later, pytest.raises(ApiError) as caught:
            authenticate_secret(key_a.secret, resolver)
        assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


def test_it_revokes_at_once_in_the_process_that_revoked(client, key_a) -> None:
    assert status_of(client, key_a.secret) == 200
    revoke_key(key_a.key)
    assert status_of(client, key_a.secret) == 401


@pytest.mark.redis
def test_it_shares_revocation_through_redis(key_a, settings) -> None:
    from django.core.cache import caches

    assert "Redis" in caches["default"].__class__.__name__
    test_it_revokes_in_every_process_within_five_seconds(key_a)


def test_it_is_not_undone_by_a_reader_that_loaded_the_key_before_the_revocation(key_a) -> None:
    """A process misses the shared cache and reads the key; before it caches what it read, the
    key is revoked. What it caches must not bring the key back for other processes."""
    from keys import secrets
    from keys.authentication import shared_cache_key

    secret_hash = secrets.hash_secret(key_a.secret)
    slow = KeyResolver(local_seconds=5)
    name = shared_cache_key(secret_hash)  # the slow reader's view, taken before its query
    stale = slow._from_database(secret_hash, key_a.secret)
    revoke_key(ApiKey.objects.get(pk=key_a.key.pk))  # commits and forgets the key
    from config.shared_cache import shared

    shared.set(name, stale, timeout=300)  # the slow reader finishes
    with pytest.raises(ApiError) as caught:
        authenticate_secret(key_a.secret, KeyResolver(local_seconds=5))  # any other process
    assert caught.value.message == "This API key has been revoked."
