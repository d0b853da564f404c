"""The API-key secret: `sk-tg-` + 22 base62 characters (131 random bits) + 6-character CRC32.

The checksum lets the gateway reject a mistyped or made-up key without touching any store, and
lets secret scanners recognise a Tollgate key. Only an HMAC of the secret is ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

from django.conf import settings

KEY_PREFIX = "sk-tg-"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 22  # 62**22 > 2**130
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
LOOKUP_LENGTH = 8  # random characters kept in clear for lookup and display
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
_ALPHABET_SET = frozenset(ALPHABET)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> str:
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return KEY_PREFIX + random_part + checksum(random_part)


def is_well_formed(secret: str) -> bool:
    """Format and checksum only: no database, no cache."""
    if len(secret) != KEY_LENGTH or not secret.startswith(KEY_PREFIX):
        return False
    body = secret[len(KEY_PREFIX) :]
    if not _ALPHABET_SET.issuperset(body):
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(checksum(random_part), check)


def lookup_prefix(secret: str) -> str:
    return secret[: len(KEY_PREFIX) + LOOKUP_LENGTH]


def hash_secret(secret: str) -> str:
    pepper = settings.API_KEY_PEPPER.encode()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
