"""The Responses API's endpoints (thin: parse, then proxy.pipeline.run) and its routes under
/v1/ and /api/v1/:

    POST   responses               create (streamed or not), through the one pipeline
    GET    responses/{id}          a stored response of the caller's workspace
    DELETE responses/{id}          delete it
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.urls import URLPattern, path
from drf_spectacular.utils import extend_schema

from ... import dialects
from ... import schema as common
from ...pipeline import run
from ...views import GatewayView
from . import schema, store
from .dialect import ResponsesDialect
from .parse import ResponsesRequest, parse


class ResponsesView(GatewayView):
    """POST /v1/responses (and /api/v1/responses): OpenAI's Responses API."""

    endpoint = "responses"
    error_dialect = ResponsesDialect()

    @extend_schema(
        tags=["gateway"],
        request=common.body(
            schema.ResponseCreateRequest,
            schema.RESPONSE_REQUEST,
            schema.RESPONSE_ITEMS_REQUEST,
            schema.RESPONSE_STREAM_REQUEST,
        ),
        responses={
            **common.streaming_ok(
                schema.ResponseObject,
                schema.RESPONSE,
                schema.RESPONSE_EVENTS,
                description=schema.SSE_DESCRIPTION,
            ),
            **common.error_responses(
                schema.BAD_ROLE,
                schema.PREVIOUS_NOT_FOUND,
                401,
                402,
                403,
                404,
                413,
                429,
                503,
                504,
            ),
        },
    )
    def post(self, request: Any) -> HttpResponse:
        body = self.json_body(request)
        workspace_id = request.auth.workspace_id
        previous = body.get("previous_response_id")
        history = store.history(workspace_id, previous) if isinstance(previous, str) else None
        parsed = parse(body, history)
        self.call.stream = parsed.stream
        return run(
            self.call,
            parsed.canonical,
            meta=request.META,
            operation="responses",
            dialect=ResponsesDialect(parsed, keeper(workspace_id, parsed)),
            optional_reasoning=True,
        )


def keeper(workspace_id: str, parsed: ResponsesRequest) -> Any:
    """What stores the answer once delivered (nothing for `store: false`)."""
    if not parsed.store:
        return None
    items = parsed.input_items()
    return lambda answer: store.keep(workspace_id, answer, items)


class ResponseDetailView(GatewayView):
    """GET / DELETE /v1/responses/{id}: a response stored for the caller's workspace."""

    error_dialect = ResponsesDialect()

    @extend_schema(
        tags=["gateway"],
        responses={
            200: common.ok(schema.ResponseObject, schema.RESPONSE),
            **common.error_responses(
                401, "insufficient_scope", "no_active_subscription", schema.NOT_FOUND
            ),
        },
    )
    def get(self, request: Any, response_id: str) -> HttpResponse:
        stored = store.get(request.auth.workspace_id, response_id)
        return JsonResponse(stored.response, json_dumps_params={"ensure_ascii": False})

    @extend_schema(
        tags=["gateway"],
        responses={
            200: common.ok(schema.ResponseDeleted, schema.RESPONSE_DELETED),
            **common.error_responses(
                401, "insufficient_scope", "no_active_subscription", schema.NOT_FOUND
            ),
        },
    )
    def delete(self, request: Any, response_id: str) -> HttpResponse:
        store.delete(request.auth.workspace_id, response_id)
        return JsonResponse({"id": response_id, "object": "response.deleted", "deleted": True})


def responses_routes(mount: str) -> list[URLPattern]:
    if not mount:
        return []
    prefix = mount.replace("/", "-")
    return [
        path("responses", ResponsesView.as_view(), name=f"{prefix}responses"),
        path(
            "responses/<str:response_id>",
            ResponseDetailView.as_view(),
            name=f"{prefix}response",
        ),
    ]


dialects.register("responses", responses_routes)
