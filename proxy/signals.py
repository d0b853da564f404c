from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Deployment, Model, Upstream
from .registry import registry


@receiver([post_save, post_delete], sender=Model)
@receiver([post_save, post_delete], sender=Deployment)
@receiver([post_save, post_delete], sender=Upstream)
def _catalog_changed(sender: Any, **kwargs: Any) -> None:
    registry.invalidate()
    transaction.on_commit(registry.invalidate)
