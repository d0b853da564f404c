"""Account pages (sign up, log in/out, password reset) and the dashboard's workspace pages."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView
from django_ratelimit.core import _SIMPLE_KEYS, is_ratelimited

from billing import overview
from billing.models import Plan, UsageRecord
from billing.services import NoDefaultPlan
from keys.authentication import workspace_principal
from keys.models import ApiKey
from proxy.pipeline import visible_models

from .dashboard import WorkspaceMixin
from .demo import demo_upstream
from .forms import LoginForm, SignupForm, normalize_email
from .services import memberships_of, sign_up

logger = logging.getLogger(__name__)

_PERIOD_WORDS = {"s": "a few seconds", "m": "a minute", "h": "an hour", "d": "a day"}
NO_PLAN_MESSAGE = (
    "Sign-up is not available right now: no default plan is configured. "
    "Please try again later or contact the operator."
)


# --- rate limiting ------------------------------------------------------------------------------


def ratelimit_message() -> str:
    """The over-the-limit message, with the wait that settings.ACCOUNT_RATELIMIT implies."""
    period = settings.ACCOUNT_RATELIMIT.rpartition("/")[2].strip()
    wait = _PERIOD_WORDS.get(period[-1:], "a while") if period[:-1] in ("", "1") else "a while"
    return f"Too many attempts. Please wait {wait} and try again."


def account_ratelimited(request: HttpRequest, action: str, email: str = "") -> bool:
    """Count this POST against `action`'s limits per client address and per submitted email.

    The rate is settings.ACCOUNT_RATELIMIT (django-ratelimit syntax, e.g. "10/m"). Both counters
    are incremented on every POST, successful or not; other methods are never counted. For log-in
    the email's counter is per (email, address): wrong passwords sent from one address lock that
    address out, never the account's owner from another one (signup and password reset keep
    theirs per email, so that nobody mails one inbox from many addresses).
    """
    rate = settings.ACCOUNT_RATELIMIT
    limited = is_ratelimited(
        request, group=f"accounts.{action}.ip", key="ip", rate=rate, method="POST", increment=True
    )
    email = normalize_email(email)
    if email:
        counted = f"{email}|{_SIMPLE_KEYS['ip'](request)}" if action == "login" else email
        limited = (
            is_ratelimited(
                request,
                group=f"accounts.{action}.email",
                key=lambda _group, _request: counted,
                rate=rate,
                method="POST",
                increment=True,
            )
            or limited
        )
    if limited:
        logger.warning("account rate limit hit: action=%s", action)
    return limited


class RateLimitedFormMixin:
    """For account form views: a POST over the limit re-renders an *unbound* form (the input is
    never validated, so no password is checked) with a message, and status 429."""

    ratelimit_action: str = ""
    email_field: str = "email"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = request.POST.get(self.email_field, "")
        if account_ratelimited(request, self.ratelimit_action, email):
            form = self.get_form_class()(  # type: ignore[attr-defined]
                **self.unbound_form_kwargs(), initial={self.email_field: email[:254]}
            )
            context = self.get_context_data(  # type: ignore[attr-defined]
                form=form, ratelimit_message=ratelimit_message()
            )
            return self.render_to_response(context, status=429)  # type: ignore[attr-defined]
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def unbound_form_kwargs(self) -> dict[str, Any]:
        return {}


# --- sign up, log in, log out -------------------------------------------------------------------


def safe_next(request: HttpRequest) -> str:
    """The page to go to afterwards (`next`, as Django's LoginView takes it) if it is on this
    site, else "" (an invitation link sends people to sign up and back)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


@method_decorator(sensitive_post_parameters("password", "password_confirm"), "dispatch")
@method_decorator(never_cache, "dispatch")
class SignupView(RateLimitedFormMixin, FormView):
    template_name = "accounts/signup.html"
    form_class = SignupForm
    ratelimit_action = "signup"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return redirect(safe_next(request) or "dashboard:home")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "next": safe_next(self.request)}

    def form_valid(self, form: SignupForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            user, workspace = sign_up(data["email"], data["password"], data["workspace_name"])
        except NoDefaultPlan:
            logger.exception("sign-up refused: the default plan does not exist")
            form.add_error(None, NO_PLAN_MESSAGE)
            return self.render_to_response(self.get_context_data(form=form), status=503)
        except IntegrityError:
            # Two sign-ups with one email at once: the unique index decides, the loser sees this.
            form.add_error("email", "An account with this email already exists.")
            return self.form_invalid(form)
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, f"Welcome to Tollgate! “{workspace.name}” is ready.")
        return redirect(
            safe_next(self.request) or reverse("dashboard:workspace", args=[workspace.slug])
        )


class LoginView(RateLimitedFormMixin, auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True
    ratelimit_action = "login"

    def unbound_form_kwargs(self) -> dict[str, Any]:
        return {"request": self.request}


class LogoutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You have been logged out.")
        return response


# --- password reset (Django's views, our templates) ---------------------------------------------


class PasswordResetView(RateLimitedFormMixin, auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")
    ratelimit_action = "password_reset"

    @property
    def extra_email_context(self) -> dict[str, Any]:  # type: ignore[override]
        # Links use the configured public address, never the request's Host header.
        return {"base_url": settings.PUBLIC_BASE_URL}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- dashboard ----------------------------------------------------------------------------------


def dashboard_home(request: HttpRequest) -> HttpResponse:
    """The first workspace's home; the login page for anonymous users."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    memberships = memberships_of(request.user)
    if memberships:
        return redirect("dashboard:workspace", slug=memberships[0].workspace.slug)
    return render(request, "accounts/no_workspace.html")


def unlimited(value: int | None) -> str:
    return "unlimited" if value is None else f"{value:,}"


SCOPE_NAMES = {
    "chat": "Chat and completions",
    "chat_agent": "Agents",
    "chat_agent_train": "Fine-tuning",
    "local_model_access": "Your own models",
}


def plan_limits(plan: Plan) -> list[tuple[str, str]]:
    """The plan's limits as (label, value) rows, as a person says them; None reads "unlimited".
    Service tiers show only when the plan restricts them."""
    rows = [
        ("Includes", ", ".join(SCOPE_NAMES.get(s, s) for s in plan.scopes) or "nothing"),
        ("Monthly credits", unlimited(plan.monthly_credits)),
        ("Requests per 5 hours", unlimited(plan.requests_per_5h)),
        ("Requests per week", unlimited(plan.requests_per_week)),
        ("Requests per minute", unlimited(plan.rpm)),
        ("Tokens per minute", unlimited(plan.tpm)),
        ("Requests at once", unlimited(plan.max_concurrency)),
        ("Models", ", ".join(plan.model_patterns) or "every model of the catalog"),
    ]
    if plan.tiers:
        rows.append(("Service tiers", ", ".join(plan.tiers)))
    return rows


def first_call(workspace: Any) -> dict[str, str]:
    """The overview's first-call snippet: the user's base URL and the plan's cheapest chat
    model."""
    principal = workspace_principal(workspace)
    chat_models = [m for m in visible_models(principal) if m.kind == "chat"]
    cheapest = min(chat_models, key=lambda m: m.input_price_per_mtok or 0, default=None)
    model = cheapest.name if cheapest else ""
    base_url = settings.PUBLIC_BASE_URL + "/v1"
    body = json.dumps(
        {"model": model or "MODEL", "messages": [{"role": "user", "content": "Hello!"}]}
    )
    curl = (
        f"curl {base_url}/chat/completions \\\n"
        '  -H "Authorization: Bearer $TOLLGATE_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )
    return {"base_url": base_url, "model": model, "curl": curl}


class WorkspaceHomeView(WorkspaceMixin, TemplateView):
    template_name = "accounts/workspace_home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        plan = context["plan"]
        context["limits"] = plan_limits(plan) if plan else []
        context["meters"] = overview.meters(self.workspace) if plan else []
        context["balance"] = overview.balance_of(self.workspace)
        context["charts"] = overview.usage_charts(self.workspace)
        context["demo_upstream"] = demo_upstream()
        if not UsageRecord.objects.filter(workspace=self.workspace).exists():
            context["first_call"] = first_call(self.workspace)
        context["key_count"] = (
            ApiKey.objects.for_workspace(self.workspace)
            .filter(revoked_at__isnull=True)
            .exclude(expires_at__lte=timezone.now())
            .count()
        )
        return context
