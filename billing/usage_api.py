"""The usage and quota API: a workspace's usage records, aggregated or exported as CSV, and the
live state of its plan's limits. Any valid key of the workspace may read them; only that
workspace's records are ever read (`workspace_records`).

The dashboard's usage page (billing.usage_views) reads the same records through the same
functions: `parse_usage_query` for the filters, `matching_records` for the query, `usage_report`
for the totals and `csv_response` for the export.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from keys.principal import Principal
from proxy.errors import ApiError
from proxy.schema import error_responses, ok
from proxy.validation import fault

from . import schema
from .models import UsageRecord
from .quota import quota_snapshot

DEFAULT_DAYS = 30
MAX_DAYS = 366
GROUPS = ("day", "model", "key")
STATUSES = ("ok", "error")  # error: answered with status >= 400
CSV_FIELDS = (
    "started_at",
    "request_id",
    "endpoint",
    "requested_model",
    "served_model",
    "status",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "tokens_estimated",
    "credits",
    "cost",
    "latency_ms",
    "ttft_ms",
    "end_user",
    "key_id",
)
# Text a client chose (end_user, X-Request-Id, model names): kept from running as a formula.
CSV_TEXT_FIELDS = {
    "request_id",
    "endpoint",
    "requested_model",
    "served_model",
    "error_code",
    "end_user",
}
CSV_ROWS_PER_CHUNK = 500
COST_PLACES = Decimal("0.00000001")  # UsageRecord.cost has 8 decimal places


# --- the query ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageQuery:
    start: datetime  # inclusive
    end: datetime  # exclusive
    group_by: str | None = None
    model: str = ""  # the model that answered (the one asked for when none did)
    key_id: uuid.UUID | None = None
    endpoint: str = ""
    status: str = ""  # "", "ok" or "error"


def parse_moment(value: str, param: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when it names no offset)."""
    candidates = [value]
    if " " in value.strip():  # "+07:00" sent unencoded arrives as " 07:00"
        head, _, tail = value.strip().rpartition(" ")
        candidates.append(f"{head}+{tail}")
    for candidate in candidates:
        try:
            moment = datetime.fromisoformat(candidate.strip())
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):
            continue
    raise fault(param, "expected an ISO date or datetime")


def parse_usage_query(params: Mapping[str, str], now: datetime | None = None) -> UsageQuery:
    """`from` (inclusive) and `to` (exclusive), 30 days up to now by default, at most 366 days
    apart; `group_by` one of day, model, key (or none: totals only); optional filters `model`,
    `key` (a key id), `endpoint` and `status` (ok or error)."""
    now = now or datetime.now(tz=UTC)
    raw_from, raw_to = params.get("from") or "", params.get("to") or ""
    start = parse_moment(raw_from, "from") if raw_from.strip() else None
    end = parse_moment(raw_to, "to") if raw_to.strip() else None
    group_by = (params.get("group_by") or "").strip() or None
    if group_by is not None and group_by not in GROUPS:
        raise fault("group_by", f"expected one of {', '.join(GROUPS)}")
    filters = parse_filters(params)
    end = now if end is None else end
    if start is None:
        try:
            start = end - timedelta(days=DEFAULT_DAYS)
        except OverflowError:  # `to` in year 1
            raise fault("to", "expected an ISO date or datetime") from None
    if start > end:
        raise fault("from", "must not be after to")
    if end - start > timedelta(days=MAX_DAYS):
        raise fault("to", f"the range must not exceed {MAX_DAYS} days")
    return UsageQuery(start, end, group_by, **filters)


def parse_filters(params: Mapping[str, str]) -> dict[str, Any]:
    model = (params.get("model") or "").strip()
    endpoint = (params.get("endpoint") or "").strip()
    raw_key = (params.get("key") or "").strip()
    status = (params.get("status") or "").strip()
    if len(model) > 200:
        raise fault("model", "must be at most 200 characters")
    if len(endpoint) > 40:
        raise fault("endpoint", "must be at most 40 characters")
    if status and status not in STATUSES:
        raise fault("status", f"expected one of {', '.join(STATUSES)}")
    try:
        key_id = uuid.UUID(raw_key) if raw_key else None
    except ValueError:
        raise fault("key", "expected an API key id") from None
    return {"model": model, "key_id": key_id, "endpoint": endpoint, "status": status}


def workspace_records(workspace_id: str) -> QuerySet:
    """The workspace's usage records: the only way this API reads them (tenant isolation)."""
    return UsageRecord.objects.for_workspace(workspace_id)


def matching_records(workspace_id: str, query: UsageQuery) -> QuerySet:
    """The workspace's records in [start, end) that pass the query's filters."""
    records = workspace_records(workspace_id).filter(
        started_at__gte=query.start, started_at__lt=query.end
    )
    if query.model:  # as group_by=model names it: the model that answered, else the one asked
        records = records.filter(
            Q(served_model=query.model) | Q(served_model="", requested_model=query.model)
        )
    if query.key_id is not None:
        records = records.filter(key_id=query.key_id)
    if query.endpoint:
        records = records.filter(endpoint=query.endpoint)
    if query.status == "ok":
        records = records.filter(status__lt=400)
    elif query.status == "error":
        records = records.filter(status__gte=400)
    return records


# --- aggregates ---------------------------------------------------------------------------------

GROUP_EXPRESSIONS: dict[str, tuple[str, Any]] = {
    "day": ("date", TruncDate("started_at", tzinfo=UTC)),
    # the model that answered; the one asked for when none did (the call failed before)
    "model": ("model", Coalesce(NullIf("served_model", Value("")), "requested_model")),
    "key": ("key_id", None),  # a field already
}
AGGREGATES = {
    "requests": Count("id"),
    "errors": Count("id", filter=Q(status__gte=400)),
    "prompt_tokens": Sum("prompt_tokens", default=0),
    "completion_tokens": Sum("completion_tokens", default=0),
    "credits": Sum("credits", default=0),
    "cost": Sum("cost", default=Decimal(0)),
}


def usage_report(workspace_id: str, query: UsageQuery) -> dict[str, Any]:
    """The usage report: one query (values + annotate per group, or aggregate for totals);
    the totals of a grouped report are the sums of its groups."""
    records = matching_records(workspace_id, query)
    data: list[dict[str, Any]] = []
    if query.group_by is None:
        totals = _figures(records.aggregate(**AGGREGATES))
    else:
        name, expression = GROUP_EXPRESSIONS[query.group_by]
        if expression is not None:
            records = records.annotate(**{name: expression})
        grouped = records.values(name).annotate(**AGGREGATES)
        rows = list(grouped.order_by(F(name).asc(nulls_last=True)))
        data = [{name: _group_value(row[name]), **_figures(row)} for row in rows]
        totals = _figures(
            {
                field: sum((row[field] for row in rows), Decimal(0) if field == "cost" else 0)
                for field in AGGREGATES
            }
        )
    return {
        "object": "usage",
        "from": iso(query.start),
        "to": iso(query.end),
        "group_by": query.group_by,
        "data": data,
        "totals": totals,
    }


def _figures(row: Mapping[str, Any]) -> dict[str, Any]:
    prompt, completion = int(row["prompt_tokens"] or 0), int(row["completion_tokens"] or 0)
    return {
        "requests": int(row["requests"] or 0),
        "errors": int(row["errors"] or 0),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "credits": int(row["credits"] or 0),
        "cost": money(row["cost"]),
    }


def _group_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return None if value is None else str(value)


def money(value: Any) -> str:
    return format(Decimal(value or 0).quantize(COST_PLACES), "f")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- CSV export ---------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns what it was given (csv.writer → strings)."""

    def write(self, value: str) -> str:
        return value


def _cell(field: str, value: Any) -> Any:
    if value is None:
        return ""
    if field == "started_at":
        return iso(value)
    if field == "cost":
        return money(value)
    if field == "tokens_estimated":
        return "true" if value else "false"
    if field in CSV_TEXT_FIELDS and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return f"'{value}"  # a spreadsheet must not run a client-chosen formula
    return str(value) if field == "key_id" else value


def usage_csv_lines(workspace_id: str, query: UsageQuery) -> Iterator[str]:
    """The header, then the raw records oldest first, a chunk of rows at a time; the records
    are read through a database cursor, never all held in memory."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_FIELDS)
    records = (
        matching_records(workspace_id, query)
        .order_by("started_at", "id")
        .values_list(*CSV_FIELDS)
        .iterator(chunk_size=2000)
    )
    chunk: list[str] = []
    for record in records:
        chunk.append(
            writer.writerow([_cell(f, v) for f, v in zip(CSV_FIELDS, record, strict=True)])
        )
        if len(chunk) >= CSV_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def csv_filename(query: UsageQuery) -> str:
    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%SZ")

    return f"usage-{stamp(query.start)}-{stamp(query.end)}.csv"


def csv_response(workspace_id: str, query: UsageQuery) -> StreamingHttpResponse:
    """The CSV export as a streamed download (the API's and the dashboard's). Its first rows
    are read before the response starts, so that a database that is away is a 503, not a 200
    with only the header row before the connection is cut."""
    lines = usage_csv_lines(workspace_id, query)
    started = [next(lines), *itertools.islice(lines, 1)]  # the header, then the first query
    response = StreamingHttpResponse(
        itertools.chain(started, lines), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{csv_filename(query)}"'
    return response


# --- views --------------------------------------------------------------------------------------


def _principal(request: Any) -> Principal:
    principal = request.auth
    if principal is None:  # pragma: no cover - authentication always sets it
        raise ApiError(401, "invalid_api_key", "Missing API key.")
    return principal


FILTER_PARAMETERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.STR,
        description="Start, inclusive: an ISO date (midnight UTC) or datetime (UTC unless it "
        "has an offset). Default: 30 days before `to`.",
        examples=[],
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.STR,
        description="End, exclusive: an ISO date or datetime. Default: now. At most 366 days "
        "after `from`.",
    ),
    OpenApiParameter(
        "model",
        OpenApiTypes.STR,
        description="Only calls answered by this model (or, for calls no model answered, "
        "that asked for it).",
    ),
    OpenApiParameter("key", OpenApiTypes.UUID, description="Only calls made with this key id."),
    OpenApiParameter(
        "endpoint",
        OpenApiTypes.STR,
        description="Only calls to this endpoint, as records name it (chat_completions, "
        "messages, chat, …).",
    ),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        enum=list(STATUSES),
        description="ok: answered with a status below 400; error: 400 or above.",
    ),
]


class UsageTotals(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="calls answered with status >= 400")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    credits = serializers.IntegerField()
    cost = serializers.CharField(help_text="USD, a decimal string with 8 places")


class UsageGroup(UsageTotals):
    """One group: its `date`, `model` or `key_id`, and its figures."""

    date = serializers.DateField(required=False, help_text="group_by=day: the UTC day")
    model = serializers.CharField(
        required=False,
        help_text="group_by=model: the model that answered (the one asked for if none did)",
    )
    key_id = serializers.UUIDField(required=False, allow_null=True, help_text="group_by=key")


# `from` is a Python keyword: the class is built from a dict of its fields.
UsageReport = type(
    "UsageReport",
    (serializers.Serializer,),
    {
        "__doc__": "The usage of the calling key's workspace in [from, to).",
        "object": serializers.CharField(default="usage"),
        "from": serializers.DateTimeField(help_text="inclusive"),
        "to": serializers.DateTimeField(help_text="exclusive"),
        "group_by": serializers.ChoiceField(GROUPS, allow_null=True),
        "data": UsageGroup(many=True, help_text="one entry per group; [] without group_by"),
        "totals": UsageTotals(),
    },
)


class UsageView(APIView):
    """The workspace's usage in a date range, in total or grouped by day, model or key."""

    required_scope = None

    @extend_schema(
        tags=["usage"],
        parameters=[
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "group_by",
                OpenApiTypes.STR,
                enum=list(GROUPS),
                description="Group by UTC day, model or API key; omitted: totals only.",
            ),
        ],
        responses={
            200: ok(UsageReport, schema.USAGE),
            **error_responses(schema.BAD_USAGE_QUERY, 401, "no_active_subscription"),
        },
    )
    def get(self, request: Any) -> Response:
        principal = _principal(request)
        query = parse_usage_query(request.query_params)
        return Response(usage_report(principal.workspace_id, query))


class CsvRenderer(renderers.BaseRenderer):
    """Names the CSV view's media type (schema); the view streams its own response."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return data  # pragma: no cover - never used: the view returns a StreamingHttpResponse


class CsvOnly(BaseContentNegotiation):
    """CSV whatever the Accept header says (a client sending application/json gets no 406)."""

    def select_parser(self, request: Any, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, available: list, format_suffix: Any = None) -> tuple:
        return available[0], available[0].media_type


class UsageCsvView(APIView):
    """The workspace's raw usage records in a date range, as CSV (oldest first)."""

    required_scope = None
    renderer_classes = [CsvRenderer]
    content_negotiation_class = CsvOnly

    @extend_schema(
        tags=["usage"],
        operation_id="api_v1_usage_csv_retrieve",
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "text/csv"): ok(
                OpenApiTypes.STR,
                schema.USAGE_CSV,
                description="A header row (" + ", ".join(CSV_FIELDS) + ") then one row per call",
            ),
            **{
                (status, "application/json"): response
                for status, response in error_responses(
                    schema.BAD_USAGE_QUERY, 401, "no_active_subscription"
                ).items()
            },
        },
    )
    def get(self, request: Any) -> StreamingHttpResponse:
        principal = _principal(request)
        query = parse_usage_query(request.query_params)
        return csv_response(principal.workspace_id, query)


class QuotaLimit(serializers.Serializer):
    limit = serializers.IntegerField(allow_null=True, help_text="null: unlimited")
    used = serializers.IntegerField(
        help_text="quota units (5h, week: requests weighted by model and peak hours), requests, "
        "tokens, calls in flight or credits"
    )
    remaining = serializers.IntegerField(allow_null=True, help_text="null: unlimited")
    resets_at = serializers.DateTimeField(
        allow_null=True,
        help_text="UTC. Week: Monday 00:00 in the gateway's zone; credits: the period's end; "
        "rolling windows: when their oldest entry leaves (null: empty); in flight: null",
    )


class QuotaLimits(serializers.Serializer):
    requests_per_5h = QuotaLimit()
    requests_per_week = QuotaLimit()
    rpm = QuotaLimit(help_text="the workspace's requests per minute")
    key_rpm = QuotaLimit(
        required=False, help_text="only when the key's own RPM is lower than the plan's"
    )
    tpm = QuotaLimit()
    max_concurrency = QuotaLimit(help_text="used: calls in flight")
    monthly_credits = QuotaLimit()
    key_monthly_cap = QuotaLimit(
        required=False,
        help_text="only when the key has a monthly cap: what it may spend per period, in "
        "credits (micro-dollars on a prepaid plan); resets with the monthly credits",
    )


class Quota(serializers.Serializer):
    object = serializers.CharField(default="quota")
    plan = serializers.CharField(allow_null=True)
    limits = QuotaLimits()


class QuotaView(APIView):
    """Every limit of the workspace's plan: its size, what is used now, and when it frees up.
    Reading it changes no counter."""

    required_scope = None

    @extend_schema(
        tags=["usage"],
        responses={
            200: ok(Quota, schema.QUOTA),
            **error_responses(401, "no_active_subscription"),
        },
    )
    def get(self, request: Any) -> Response:
        return Response(quota_snapshot(_principal(request)))
