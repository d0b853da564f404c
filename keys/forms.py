"""Dashboard forms for API keys. The rules themselves live in keys.services."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from billing.models import Plan

from .models import MAX_MONTHLY_CAP
from .services import InvalidKeyRequest

MAX_EXPIRY_DAYS = 3650
MAX_GRACE_HOURS = 24 * 30
DEFAULT_GRACE_HOURS = 24
_PATTERN = re.compile(r"^[A-Za-z0-9._:/*?\[\]!-]{1,100}$")


class ScopesFormMixin(forms.Form):
    """A key's scopes: all of the plan's (the key follows plan changes), or some of them."""

    all_plan_scopes = forms.BooleanField(
        label="All of the plan's scopes",
        required=False,
        help_text="Including any scope a plan upgrade adds later.",
    )
    scopes = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, required=False, label="Only these scopes"
    )

    def set_scope_choices(self, scopes: list[str]) -> None:
        self.fields["scopes"].choices = [(scope, scope) for scope in scopes]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("all_plan_scopes"):
            cleaned["scopes"] = None
        elif not cleaned.get("scopes") and "scopes" not in self.errors:
            self.add_error("scopes", "Choose at least one scope, or all of the plan's scopes.")
        return cleaned


class KeyScopesForm(ScopesFormMixin):
    """Change an existing key's scopes (the keys page's "Scopes" button of a row)."""

    def __init__(self, *args: Any, scopes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_scope_choices(scopes)


class KeyCapForm(forms.Form):
    """A key's monthly cap (the keys page's "Monthly cap" button of a row): blank = no cap."""

    monthly_cap = forms.DecimalField(
        label="Monthly cap",
        required=False,
        min_value=0,
        max_value=MAX_MONTHLY_CAP,
        max_digits=16,
        decimal_places=6,
        help_text="Blank = no cap.",
    )

    def __init__(self, *args: Any, in_money: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_money = in_money
        field = self.fields["monthly_cap"]
        if in_money:
            field.decimal_places = 2
            field.widget.attrs.update(step="0.01", placeholder="e.g. 20.00")
            field.help_text = "USD this key may spend per month. Blank = no cap."
        else:
            field.widget.attrs.update(step="1", placeholder="e.g. 5000")
            field.help_text = "Credits this key may spend per month. Blank = no cap."
        field.widget.attrs.update(min="0", inputmode="decimal" if in_money else "numeric")

    def clean_monthly_cap(self) -> Decimal | None:
        value = self.cleaned_data.get("monthly_cap")
        if value is not None and not self.in_money and value != value.to_integral_value():
            raise forms.ValidationError("Enter a whole number of credits.")
        return value


class KeyCreateForm(ScopesFormMixin):
    name = forms.CharField(
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "e.g. production backend"}),
        help_text="To recognise the key later.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        help_text="Empty = never expires.",
    )
    model_patterns = forms.CharField(
        label="Allowed models",
        required=False,
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. llama3*, qwen2.5:7b"}),
        help_text="Comma-separated names or patterns (* and ? wildcards). Empty = all of the plan's models.",
    )
    rpm_limit = forms.IntegerField(
        label="Requests per minute",
        required=False,
        min_value=1,
        help_text="Optional, lower than the plan's limit. Empty = the plan's limit.",
    )

    def __init__(self, *args: Any, scopes: list[str], plan: Plan | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.order_fields(["name", "all_plan_scopes", "scopes"])
        self.set_scope_choices(scopes)
        if not self.is_bound:
            self.fields["all_plan_scopes"].initial = True
            self.fields["scopes"].initial = list(scopes)
        if plan is not None and plan.rpm is not None:
            self.fields["rpm_limit"].widget.attrs["max"] = plan.rpm
            self.fields[
                "rpm_limit"
            ].help_text = f"Optional, at most the plan's {plan.rpm:,}. Empty = the plan's limit."

    def clean_model_patterns(self) -> list[str]:
        raw = self.cleaned_data.get("model_patterns") or ""
        patterns = list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
        bad = [p for p in patterns if not _PATTERN.match(p)]
        if bad:
            raise forms.ValidationError(
                f"“{bad[0][:40]}” is not a model name or pattern (letters, digits, . _ : / - * ?)."
            )
        return patterns

    def clean_rpm_limit(self) -> int | None:
        value = self.cleaned_data.get("rpm_limit")
        limit = self.plan.rpm if self.plan is not None else None
        if value is not None and limit is not None and value > limit:
            raise forms.ValidationError(
                f"Must be at most the plan's limit of {limit:,} requests per minute."
            )
        return value

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class KeyRotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        label="Grace period (hours)",
        required=False,
        min_value=0,
        max_value=MAX_GRACE_HOURS,
        help_text="How long the old key keeps working. 0 = stops at once.",
    )

    def grace_seconds(self) -> int:
        hours = self.cleaned_data.get("grace_hours")
        return (DEFAULT_GRACE_HOURS if hours is None else hours) * 3600


_FIELD_OF_MESSAGE = {"name": "name", "expires_at": "expires_in_days", "rpm_limit": "rpm_limit"}


def add_service_error(form: forms.Form, error: InvalidKeyRequest) -> None:
    """Show keys.services' InvalidKeyRequest beside the field it is about ("name: …")."""
    message = str(error)
    field, sep, rest = message.partition(": ")
    if sep and field in _FIELD_OF_MESSAGE and _FIELD_OF_MESSAGE[field] in form.fields:
        form.add_error(_FIELD_OF_MESSAGE[field], rest[:1].upper() + rest[1:] + ".")
    elif "scope" in message and "scopes" in form.fields:
        form.add_error("scopes", message[:1].upper() + message[1:] + ".")
    else:
        form.add_error(None, message[:1].upper() + message[1:] + ".")
