"""Billing API routes, mounted under /api/v1/ (config/urls.py)."""

from __future__ import annotations

from django.urls import path

from .api import RedeemView
from .usage_api import QuotaView, UsageCsvView, UsageView

billing_api_patterns = [
    path("usage", UsageView.as_view(), name="usage"),
    path("usage.csv", UsageCsvView.as_view(), name="usage-csv"),
    path("quota", QuotaView.as_view(), name="quota"),
    path("billing/redeem", RedeemView.as_view(), name="billing-redeem"),
]
