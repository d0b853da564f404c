"""Dashboard: the workspace's usage records, filtered, totalled, paginated and exported as CSV.

The page reads records exactly as `GET /api/v1/usage` and `/api/v1/usage.csv` do: its form is
turned into the API's parameters and goes through `parse_usage_query`, `matching_records`,
`usage_report` and `csv_response` (billing.usage_api). Members may see usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.views import View
from django.views.generic import TemplateView

from accounts.dashboard import WorkspaceMixin
from keys.models import ApiKey
from proxy.errors import ApiError

from . import usage_charts
from .usage_api import (
    DEFAULT_DAYS,
    MAX_DAYS,
    UsageQuery,
    csv_response,
    matching_records,
    parse_usage_query,
    usage_report,
    workspace_records,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class Row:
    record: Any
    key: ApiKey | None
    endpoint: str  # readable
    list_price: Decimal


# the API's parameter → the form field that sets it
FIELD_OF_PARAM = {"from": "since", "to": "until", "model": "model", "key": "key"}
FIELD_OF_PARAM |= {"endpoint": "endpoint", "status": "status"}


def today() -> date:
    return datetime.now(tz=UTC).date()


class DateInput(forms.DateInput):
    input_type = "date"


class UsageFilterForm(forms.Form):
    """The page's filters (GET). Dates are UTC days and both ends are inclusive; the API's `to`
    is exclusive, so `until` becomes the next day's midnight."""

    since = forms.DateField(label="From", required=False, widget=DateInput)
    until = forms.DateField(label="To", required=False, widget=DateInput)
    model = forms.ChoiceField(label="Model", required=False)
    key = forms.ChoiceField(label="API key", required=False)
    endpoint = forms.ChoiceField(label="Endpoint", required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any"), ("ok", "OK"), ("error", "Error")],
    )
    by = forms.ChoiceField(label="Charts by", required=False, choices=usage_charts.BY_CHOICES)

    def __init__(
        self,
        data: Any,
        *,
        keys: list[ApiKey],
        models: list[str],
        endpoints: list[str],
    ) -> None:
        super().__init__(data)
        chosen = {name: (data.get(name) or "").strip() for name in ("model", "endpoint")}
        self.fields["model"].choices = [("", "Any model"), *_options(models, chosen["model"])]
        self.fields["endpoint"].choices = [
            ("", "Any endpoint"),
            *[
                (name, usage_charts.endpoint_name(name))
                for name, _ in _options(endpoints, chosen["endpoint"])
            ],
        ]
        self.fields["key"].choices = [("", "Any key")] + [
            (str(k.pk), f"{k.name} ({k.display})") for k in keys
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        last = until or today()
        if since and since > last:
            self.add_error("since", "The start must not be after the end (today when empty).")
        elif since and (last - since).days + 1 > MAX_DAYS:
            self.add_error("until", f"Choose at most {MAX_DAYS} days.")
        return cleaned

    def api_params(self) -> dict[str, str]:
        """The filters as `GET /api/v1/usage` takes them."""
        data = self.cleaned_data
        params = {name: data.get(name) or "" for name in ("model", "key", "endpoint", "status")}
        if data.get("since"):
            params["from"] = data["since"].isoformat()
        if data.get("until"):
            params["to"] = (data["until"] + timedelta(days=1)).isoformat()
        return params

    def query(self) -> UsageQuery | None:
        """The usage query, or None with the problem added beside its field."""
        if not self.is_valid():
            return None
        try:
            return parse_usage_query(self.api_params())
        except ApiError as error:
            field = FIELD_OF_PARAM.get(error.param or "")
            message = error.message.split(": ", 1)[-1]
            self.add_error(field, message[:1].upper() + message[1:] + ".")
            return None


def _options(values: list[str], chosen: str) -> list[tuple[str, str]]:
    names = sorted({*values, chosen} - {""})
    return [(name, name) for name in names]


class UsagePageMixin(WorkspaceMixin):
    def filter_form(self, request: HttpRequest) -> UsageFilterForm:
        records = workspace_records(str(self.workspace.pk)).filter(
            started_at__gte=datetime.now(tz=UTC) - timedelta(days=MAX_DAYS)
        )
        models = records.exclude(served_model="").values_list("served_model", flat=True)
        asked = records.filter(served_model="").values_list("requested_model", flat=True)
        endpoints = records.values_list("endpoint", flat=True)
        return UsageFilterForm(
            request.GET,
            keys=list(ApiKey.objects.for_workspace(self.workspace).order_by("name")),
            models=[*models.distinct().order_by(), *asked.distinct().order_by()],
            endpoints=list(endpoints.distinct().order_by()),
        )


class UsageView(UsagePageMixin, TemplateView):
    """GET: the filter form, the totals of the matching records and one page of them."""

    template_name = "billing/usage.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = self.filter_form(self.request)
        query = form.query()
        context.update(form=form, query=query, page=None, totals=None)
        if query is None:
            return context
        workspace_id = str(self.workspace.pk)
        records = matching_records(workspace_id, query).order_by("-started_at", "-id")
        page: Page = Paginator(records, PAGE_SIZE).get_page(self.request.GET.get("page"))
        keys = {k.pk: k for k in ApiKey.objects.for_workspace(self.workspace)}
        prices = usage_charts.list_prices(r.served_model for r in page.object_list)
        by = form.cleaned_data.get("by") or "model"
        charts = usage_charts.usage_charts(
            matching_records(workspace_id, query),
            query.start,
            query.end,
            by,
            {pk: key.name for pk, key in keys.items()},
        )
        context.update(
            page=page,
            rows=[
                Row(
                    record,
                    keys.get(record.key_id),
                    usage_charts.endpoint_name(record.endpoint),
                    usage_charts.list_price(
                        record.prompt_tokens,
                        record.completion_tokens,
                        prices.get(record.served_model),
                    ),
                )
                for record in page.object_list
            ],
            charts=charts,
            charts_by=usage_charts.BY[by],
            list_price_total=sum((c.total for c in charts if c.title == "Cost at list price"), 0.0),
            totals=usage_report(workspace_id, query)["totals"],
            range_start=query.start,
            range_end=query.end - timedelta(microseconds=1),
            default_days=DEFAULT_DAYS,
        )
        return context


class UsageCsvView(UsagePageMixin, View):
    """GET: the matching records as CSV, oldest first (the API's export)."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        query = self.filter_form(request).query()
        if query is None:  # the page shows why
            page = redirect("dashboard:usage", slug=self.workspace.slug)
            page["Location"] += f"?{request.GET.urlencode()}" if request.GET else ""
            return page
        return csv_response(str(self.workspace.pk), query)
