from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from keys.api import KeyInfoView
from proxy.urls import api_v1_patterns, v1_patterns

from .views import HealthView

api_v1 = [
    path("health", HealthView.as_view(), name="health"),
    path("key", KeyInfoView.as_view(), name="key-info"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    *api_v1_patterns,
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:home", permanent=False)),
    path("healthz", HealthView.as_view(), name="healthz"),
    path("api/v1/", include(api_v1)),
    path("v1/", include(v1_patterns)),
    path("documentation/openapi.json", SpectacularAPIView.as_view(), name="openapi-json"),
    path(
        "documentation/swagger",
        SpectacularSwaggerView.as_view(url_name="openapi-json"),
        name="documentation-swagger",
    ),
    path("accounts/", include("accounts.urls")),
    path("dashboard/", include("accounts.dashboard_urls")),
    path("admin/", admin.site.urls),
]
