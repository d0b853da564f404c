from __future__ import annotations

import pytest
from django.db import connection

from keys import secrets
from keys.models import ApiKey


def test_it_generates_keys_of_the_documented_shape() -> None:
    secret = secrets.generate()
    assert secret.startswith("sk-tg-")
    assert len(secret) == len("sk-tg-") + 22 + 6
    assert secrets.is_well_formed(secret)
    assert len({secrets.generate() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # checksum digit changed
        lambda s: s[:10] + ("x" if s[10] != "x" else "y") + s[11:],  # body changed
        lambda s: s[:-1],  # too short
        lambda s: "sk-xx-" + s[6:],  # wrong prefix
        lambda s: s[:-2] + "!!",  # not base62
    ],
)
def test_it_rejects_a_broken_checksum_without_any_query(mangle) -> None:
    # No `db` fixture: pytest-django fails this test if anything touches the database.
    assert not secrets.is_well_formed(mangle(secrets.generate()))


def test_it_stores_only_a_hash_of_the_secret(key_a) -> None:
    row = ApiKey.objects.filter(pk=key_a.key.pk).values().get()
    assert key_a.secret not in {str(v) for v in row.values()}
    assert row["secret_hash"] == secrets.hash_secret(key_a.secret)
    assert row["secret_hash"] != secrets.hash_secret(key_a.secret + "x")
    assert row["prefix"] == key_a.secret[:14]
    assert row["last4"] == key_a.secret[-4:]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keys_apikey")
        dumped = repr(cursor.fetchall())
    assert key_a.secret not in dumped
    assert key_a.secret[14:-4] not in dumped


def test_it_hashes_with_the_pepper_not_the_secret_key(settings, key_a) -> None:
    before = secrets.hash_secret(key_a.secret)
    settings.SECRET_KEY = "a-rotated-session-secret-" + "x" * 40
    assert secrets.hash_secret(key_a.secret) == before
    settings.API_KEY_PEPPER = "another-pepper-value-for-this-test-only"
    assert secrets.hash_secret(key_a.secret) != before
