from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .authentication import forget_key
from .models import ApiKey


@receiver([post_save, post_delete], sender=ApiKey)
def _forget_changed_key(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    # Now, and again after commit: a reader between the two may have cached the old row.
    forget_key(instance.secret_hash)
    transaction.on_commit(lambda: forget_key(instance.secret_hash))
