from __future__ import annotations

from django.apps import AppConfig


class FinetuneConfig(AppConfig):
    name = "finetune"
