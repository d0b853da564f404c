from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts.team_views import InvitationView
from agents.urls import agents_api_patterns
from billing.urls import billing_api_patterns
from finetune.urls import finetune_api_patterns
from keys.api import KeyInfoView
from proxy.local_api import local_api_patterns
from proxy.status import dead_letters_view, status_view
from proxy.urls import api_v1_patterns, root_patterns, v1_patterns
from proxy.views import unknown_api_path

from .metrics import metrics_view
from .security import REDOC_LOGO, allow_images
from .views import HealthView

# The API documents are public (no key): developers import them into Postman.
PUBLIC = {"authentication_classes": [], "permission_classes": []}

api_v1 = [
    path("health", HealthView.as_view(), name="health"),
    path("key", KeyInfoView.as_view(), name="key-info"),
    path("schema", SpectacularJSONAPIView.as_view(**PUBLIC), name="schema"),
    # Split: Swagger's start script is a file of its own, not inline (config/security.py's CSP).
    path(
        "docs", SpectacularSwaggerSplitView.as_view(url_name="schema", **PUBLIC), name="swagger-ui"
    ),
    path(
        "redoc",
        allow_images(REDOC_LOGO)(SpectacularRedocView.as_view(url_name="schema", **PUBLIC)),
        name="redoc",
    ),
    *api_v1_patterns,
    *billing_api_patterns,
    *local_api_patterns,
    *finetune_api_patterns,
    *agents_api_patterns,
]

urlpatterns = [
    # First: Ollama's root ("/" answers an Ollama client that sends a key; a browser is sent on
    # to the dashboard by the route below), /api/tags, /api/chat, … and its JSON 404 under /api/.
    *root_patterns,
    path("", RedirectView.as_view(pattern_name="dashboard:home", permanent=False)),
    path("healthz", HealthView.as_view(), name="healthz"),
    # Browsers ask for /favicon.ico whatever the pages link: send them to the SVG.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("metrics", metrics_view, name="metrics"),  # operators' token or network only
    path("api/v1/", include(api_v1)),
    path("v1/", include(v1_patterns)),
    path(
        "documentation/openapi.json", SpectacularJSONAPIView.as_view(**PUBLIC), name="openapi-json"
    ),
    path(
        "documentation/swagger",
        SpectacularSwaggerSplitView.as_view(url_name="openapi-json", **PUBLIC),
        name="documentation-swagger",
    ),
    path("accounts/", include("accounts.urls")),
    path("dashboard/", include("accounts.dashboard_urls")),
    path("invite/<str:token>/", InvitationView.as_view(), name="invitation"),
    path("admin/status/", admin.site.admin_view(status_view), name="operator-status"),
    path(
        "admin/status/dead-letters/",
        admin.site.admin_view(dead_letters_view),
        name="operator-dead-letters",
    ),
    path("admin/", admin.site.urls),
    re_path(r"^(?:api/)?v1/(?P<rest>.*)$", unknown_api_path),  # last: API 404s stay JSON
    re_path(r"^api/(?P<rest>.*)$", unknown_api_path),  # Ollama's /api/… included
]
