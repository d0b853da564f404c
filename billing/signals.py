from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from keys.authentication import forget_all_keys

from .models import Plan, Subscription


@receiver([post_save, post_delete], sender=Plan)
@receiver([post_save, post_delete], sender=Subscription)
def _plan_or_subscription_changed(sender: Any, **kwargs: Any) -> None:
    """Cached authentications carry plan limits: orphan them all (they rebuild lazily)."""
    # Now, and again after commit: a reader between the two may have cached the old row.
    forget_all_keys()
    transaction.on_commit(forget_all_keys)
