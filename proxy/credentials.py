"""Upstream API keys at rest: `env:VAR` references, or values encrypted with Fernet.

The encryption key comes from UPSTREAM_KEYS_SECRET (or, if unset, is derived from SECRET_KEY;
set it explicitly if you ever rotate SECRET_KEY).
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

ENV_PREFIX = "env:"
ENCRYPTED_PREFIX = "enc:"


class CredentialError(RuntimeError):
    pass


def _fernet() -> Fernet:
    secret = settings.UPSTREAM_KEYS_SECRET or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def seal(value: str) -> str:
    """What to store for a key typed by an operator: env references stay, the rest is encrypted.
    Never for a customer's key: `env:SECRET_KEY` would make reveal() send the operator's secret
    to the customer's server. Use encrypt() for those."""
    value = value.strip()
    if value.startswith((ENV_PREFIX, ENCRYPTED_PREFIX)):
        return value
    return encrypt(value)


def encrypt(value: str) -> str:
    """What to store for a key a customer sent: always encrypted, whatever it looks like, so it
    is only ever revealed as the very text they sent."""
    return ENCRYPTED_PREFIX + _fernet().encrypt(value.encode()).decode()


def reveal(stored: str) -> str:
    """The usable key. Raises CredentialError (never showing the value) when it cannot."""
    if stored.startswith(ENV_PREFIX):
        name = stored[len(ENV_PREFIX) :]
        value = os.environ.get(name)
        if not value:
            raise CredentialError(f"environment variable {name} is not set")
        return value
    if stored.startswith(ENCRYPTED_PREFIX):
        try:
            return _fernet().decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise CredentialError("an encrypted upstream key cannot be decrypted") from exc
    return stored


def describe(stored: str) -> str:
    """Safe to show in admin and logs."""
    if stored.startswith(ENV_PREFIX):
        return stored
    return "encrypted key" if stored.startswith(ENCRYPTED_PREFIX) else "plain key"
