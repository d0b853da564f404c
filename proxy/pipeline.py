"""The one pipeline every gateway endpoint goes through:

    parse (dialect) → authenticate (DRF, before this) → resolve model and tier → admit
    → route to an upstream → render (dialect) → settle

Dialects translate at the edges; this module never looks at a wire format other than the
canonical (OpenAI) shape.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse

from billing import lost_streams, metering
from billing.metering import Call, Usage
from billing.models import TIERS
from keys.permissions import insufficient_scope
from keys.principal import Principal

from . import idempotency
from .dialects import Dialect
from .errors import ApiError
from .providers import UpstreamFailure, UpstreamStream
from .providers.base import OUTPUT_CAP
from .registry import ModelInfo, registry
from .router import router
from .tokens import count_tokens, prompt_tokens, tools_tokens
from .validation import is_batch

log = logging.getLogger(__name__)

TIER_HEADERS = ("HTTP_X_TIER", "HTTP_X_SIATI_TIER")
END_USER_HEADERS = ("HTTP_X_END_USER", "HTTP_X_SIATI_USER")
_REQUEST_ID = re.compile(r"^[\w.:\-]{1,128}$")
LOCAL_SCOPE = "local_model_access"  # models served by a workspace's own server need it


# --- request facts ------------------------------------------------------------------------------


def request_id_of(meta: dict[str, Any]) -> str:
    supplied = meta.get("HTTP_X_REQUEST_ID", "").strip()
    return supplied if _REQUEST_ID.match(supplied) else f"req_{uuid.uuid4().hex}"


def read_body(request: Any) -> bytes:
    """The raw body, refused with 413 before it is read when it is over the limit."""
    limit = settings.GATEWAY_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_large = ApiError(
        413, "request_too_large", f"Request body is larger than the limit of {limit} bytes."
    )
    if length > limit:
        raise too_large
    raw = request.read(limit + 1) if not length else request.read(length)
    if len(raw) > limit:
        raise too_large
    return raw


def tier_of(meta: dict[str, Any], principal: Principal) -> str:
    tier = next((meta[h].strip() for h in TIER_HEADERS if meta.get(h, "").strip()), "")
    tier = tier.lower() or principal.default_tier
    if not tier:
        return ""
    if tier not in TIERS:
        raise ApiError(
            400,
            "invalid_request_error",
            f"X-Tier: unknown tier {json.dumps(tier)}; expected one of {', '.join(TIERS)}",
            param="X-Tier",
        )
    if principal.plan and principal.plan.tiers and tier not in principal.plan.tiers:
        raise ApiError(
            403,
            "tier_not_allowed",
            f"Tier {tier!r} is not included in your plan (allowed: {', '.join(principal.plan.tiers)}).",
        )
    return tier


def end_user_of(meta: dict[str, Any], body: dict[str, Any]) -> str:
    header = next((meta[h].strip() for h in END_USER_HEADERS if meta.get(h, "").strip()), "")
    user = body.get("user")
    return header or (user if isinstance(user, str) else "")


def start_call(request: Any, *, endpoint: str, dialect: str, stream: bool) -> Call:
    return Call(
        principal=request.auth,
        # RequestIdMiddleware has already settled on the id (the client's, or ours).
        request_id=request.META.get("HTTP_X_REQUEST_ID") or request_id_of(request.META),
        endpoint=endpoint,
        dialect=dialect,
        stream=stream,
    )


# --- models -------------------------------------------------------------------------------------


def resolve_model(
    name: str, principal: Principal, kind: str | None, fallback: str | None = None
) -> ModelInfo:
    """Exact name, alias, then alias pattern, then the `fallback` name (seed 000's default model
    for unknown Anthropic names); 404 if none; 403 if the plan or key excludes it."""
    snapshot = registry.snapshot()
    model = snapshot.resolve(name, principal.workspace_id)
    if model is None and fallback:
        model = snapshot.resolve(fallback, principal.workspace_id)
    if model is None:
        raise ApiError(
            404,
            "model_not_found",
            f"The model {name!r} does not exist. GET /v1/models lists the models you can use.",
            param="model",
        )
    if not principal.allows_model(model.name, private=model.workspace_id is not None):
        raise ApiError(
            403,
            "model_not_allowed",
            f"Your plan or API key does not allow the model {model.name!r}.",
            param="model",
        )
    if model.on_own_upstream and LOCAL_SCOPE not in principal.scopes:
        raise insufficient_scope(
            principal,
            LOCAL_SCOPE,
            f"The model {model.name!r} is served by your own server; calling it needs an API "
            f"key with the '{LOCAL_SCOPE}' scope.",
            param="model",
        )
    if kind is not None and model.kind != kind:
        raise ApiError(
            400,
            "invalid_request_error",
            f"model: {model.name!r} is {'an' if model.kind[0] in 'aeiou' else 'a'} {model.kind} "
            "model and cannot serve this endpoint.",
            param="model",
        )
    return model


def visible_models(principal: Principal) -> list[ModelInfo]:
    local = LOCAL_SCOPE in principal.scopes
    return [
        m
        for m in registry.snapshot().visible_to(principal.workspace_id)
        if principal.allows_model(m.name, private=m.workspace_id is not None)
        and (local or not m.on_own_upstream)
    ]


# --- usage --------------------------------------------------------------------------------------


def usage_from(result: dict[str, Any]) -> Usage | None:
    """The upstream's counts, each clamped to 0…2³¹−1 (a customer's own server may report
    anything); a count that had to change marks the usage as estimated, and is logged."""
    usage = result.get("usage")
    if not isinstance(usage, dict) or "prompt_tokens" not in usage:
        return None
    prompt, prompt_changed = metering.count_of(usage.get("prompt_tokens"))
    completion, completion_changed = metering.count_of(usage.get("completion_tokens"))
    if prompt_changed or completion_changed:
        log.warning(
            "upstream reported unusable token counts (prompt %.40r, completion %.40r): clamped",
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
        )
    if prompt_changed or completion_changed:  # what the client is shown, too
        usage.update(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
    return Usage(prompt, completion, estimated=prompt_changed or completion_changed)


def delivered_text(chunk: dict[str, Any]) -> str:
    """The text a chunk (or a whole answer) carries: content, reasoning, tool-call arguments."""
    parts: list[str] = []
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        for holder in (choice.get("delta"), choice.get("message")):
            if not isinstance(holder, dict):
                continue
            for name in ("content", "reasoning_content", "reasoning"):
                if isinstance(holder.get(name), str):
                    parts.append(holder[name])
            for tool_call in holder.get("tool_calls") or ():
                function = tool_call.get("function") or {}
                parts += [function.get("name") or "", function.get("arguments") or ""]
        if isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return " ".join(p for p in parts if p)


class UsageMeter:
    """Follows a stream: the upstream's usage when it reports one, else an estimate of what was
    delivered (prompt + tokens of the chunks that reached the client)."""

    def __init__(self, call: Call, prompt_estimate: int) -> None:
        self.call = call
        self.prompt_estimate = prompt_estimate
        self.reported: Usage | None = None
        self.delivered_tokens = 0

    def saw(self, chunk: dict[str, Any]) -> None:
        if (usage := usage_from(chunk)) is not None:
            self.reported = usage

    def delivered(self, chunk: dict[str, Any]) -> None:
        self.delivered_tokens += count_tokens(delivered_text(chunk))

    def finish(self) -> None:
        if self.reported is not None and not self.call.incomplete:
            self.call.usage = self.reported
        else:
            prompt = self.reported.prompt_tokens if self.reported else self.prompt_estimate
            self.call.usage = Usage(
                prompt,
                self.delivered_tokens,
                estimated=self.reported is None or self.call.incomplete,
            )


def is_prepaid(call: Call) -> bool:
    return bool(call.principal.plan and call.principal.plan.prepaid)


OUTPUT_LIMITS = ("max_tokens", "max_completion_tokens")  # canonical; providers translate


def worst_case_tokens(body: dict[str, Any], model: ModelInfo) -> tuple[int, int]:
    """(prompt, completion) tokens a call can cost at most: what prepaid admission holds back.
    A token is at least one byte, so the request's bytes bound the prompt (images: a generous
    fixed count); the output is bounded by max_tokens (or a default) for each answer the
    upstream generates (limit_output makes it keep to that)."""
    return upper_bound_prompt(body), output_per_answer(body, model) * answers_of(body)


def output_per_answer(body: dict[str, Any], model: ModelInfo) -> int:
    """The output tokens each answer may have: what the client asked (the smaller if it asked
    twice), else PREPAID_DEFAULT_MAX_TOKENS, never more than the model's context window."""
    asked = [body[n] for n in OUTPUT_LIMITS if isinstance(body.get(n), int) and body[n] > 0]
    room = max(1, model.context_window)
    return min(min(asked) if asked else settings.PREPAID_DEFAULT_MAX_TOKENS, room)


def answers_of(body: dict[str, Any]) -> int:
    """Answers the upstream generates: `n` (legacy completions: `best_of`, if more) for each
    prompt of a list of prompts."""

    def count(name: str) -> int:
        value = body.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1

    prompts = len(body["prompt"]) if is_batch(body.get("prompt")) else 1
    return max(1, prompts) * max(count("n"), count("best_of"))


def limit_output(upstream_body: dict[str, Any], per_answer: int) -> None:
    """The upstream is told the output a prepaid call's hold paid for, when the client asked
    for none or more (it ends the answer with finish reason `length`)."""
    named = [n for n in OUTPUT_LIMITS if upstream_body.get(n) is not None] or ["max_tokens"]
    for name in named:
        asked = upstream_body.get(name)
        if not isinstance(asked, int) or asked > per_answer:
            upstream_body[name] = per_answer
    upstream_body[OUTPUT_CAP] = per_answer


IMAGE_TOKENS_BOUND = 2000


def upper_bound_prompt(body: dict[str, Any]) -> int:
    images = 0

    def strip_images(value: Any) -> Any:
        nonlocal images
        if isinstance(value, dict):
            if value.get("type") in ("image_url", "image", "input_image"):
                images += 1
                return None
            return {k: strip_images(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip_images(v) for v in value]
        return value

    counted = {
        k: strip_images(body.get(k)) for k in ("messages", "prompt", "input", "tools", "system")
    }
    text = json.dumps(counted, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode()) + images * IMAGE_TOKENS_BOUND


def estimated_usage(prompt: int, completion: int) -> dict[str, Any]:
    """OpenAI's usage object for counts the gateway estimated, saying so."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }


def estimate_prompt(body: dict[str, Any]) -> int:
    if isinstance(body.get("messages"), list):
        return prompt_tokens(body["messages"]) + tools_tokens(body.get("tools"))
    prompt = body.get("prompt", body.get("input", ""))
    if isinstance(prompt, list):
        return sum(count_tokens(p) for p in prompt if isinstance(p, str))
    return count_tokens(prompt) if isinstance(prompt, str) else 0


# --- the pipeline -------------------------------------------------------------------------------


def run(
    call: Call,
    body: dict[str, Any],
    *,
    meta: dict[str, Any],
    operation: str,
    dialect: Dialect,
    model_kind: str = "chat",
    fallback_model: str | None = None,
    optional_reasoning: bool = False,
    requested_model: str | None = None,
) -> HttpResponse:
    """Resolve, admit, route, render, settle. `body` is canonical (OpenAI shape); keys starting
    with `_` are a dialect's private notes for a provider that speaks its format natively.
    `fallback_model` serves names nothing resolves; with `optional_reasoning` a reasoning_effort
    is dropped for a model the catalog says cannot reason (Claude Code asks for thinking on its
    own, and the model its name maps to may not think: an answer beats the upstream's 400).
    `requested_model` is the name the client called when it is not `body["model"]` (an agent's
    `agent:<name>`): answers and usage records carry it."""
    claim: idempotency.Claim | None = None
    try:
        call.requested_model = requested_model or str(body.get("model", ""))
        model = resolve_model(
            str(body.get("model", "")), call.principal, model_kind, fallback_model
        )
        call.served_model = model.name
        call.tier = tier_of(meta, call.principal)
        call.end_user = end_user_of(meta, body)
        key = idempotency.client_key(meta, bool(meta.get("tollgate.request_id_supplied")))
        if key:
            outcome = idempotency.claim(call.principal.workspace_id, call.endpoint, key, body)
            if isinstance(outcome, dict):
                return replay(call, outcome, body, dialect)
            claim = outcome
        metering.admit(
            call,
            units_offpeak=model.quota_weight_offpeak,
            units_peak=model.quota_weight_peak,
            prices=(model.input_price_per_mtok, model.output_price_per_mtok),
            worst_case_tokens=worst_case_tokens(body, model) if is_prepaid(call) else (0, 0),
        )
        upstream_body = prepare_upstream_body(body, call)
        if is_prepaid(call) and operation != "embeddings":
            limit_output(upstream_body, output_per_answer(body, model))
        if optional_reasoning and not model.may_reason:
            upstream_body.pop("reasoning_effort", None)
        routed = router.call(
            model,
            upstream_body,
            operation=operation,
            stream=call.stream,
            tier=call.tier or None,
            workspace=str(call.principal.workspace_id),
        )
    except ApiError as error:
        if claim is not None:
            idempotency.release(claim)
        call.fail(error.status, error.code)
        metering.settle(call)
        error.headers = {**limit_headers(call), **error.headers}
        raise
    except Exception:
        if claim is not None:
            idempotency.release(claim)
        raise
    call.deployment_id = routed.deployment.id
    call.upstream_ms = routed.upstream_ms
    if isinstance(routed.result, UpstreamStream):
        return stream_response(call, routed.result, body, dialect, claim)
    return complete_response(call, routed.result, body, dialect, claim)


def replay(
    call: Call, result: dict[str, Any], body: dict[str, Any], dialect: Dialect
) -> HttpResponse:
    """The stored answer of an idempotent repeat: no upstream call, no charge."""
    call.error_code = "replayed"
    stored = usage_from(result)
    call.usage = stored or Usage()  # what the answer says; the record keeps zero (below)
    result = {**result, "model": call.requested_model}
    if call.stream:
        call.prompt_estimate = estimate_prompt(body)
        response: HttpResponse = StreamingHttpResponse(
            dialect.render_stream(call, iter(idempotency.as_chunks(result))),
            content_type=dialect.stream_content_type,
        )
    else:
        response = dialect.render(call, result)
    call.usage = Usage()
    metering.settle(call)
    response["Idempotent-Replayed"] = "true"
    return response


def prepare_upstream_body(body: dict[str, Any], call: Call) -> dict[str, Any]:
    upstream = dict(body)
    if call.stream:
        upstream["stream"] = True
        upstream["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    if call.end_user:
        upstream["user"] = call.end_user
    return upstream


def complete_response(
    call: Call,
    result: dict[str, Any],
    body: dict[str, Any],
    dialect: Dialect,
    claim: idempotency.Claim | None = None,
) -> HttpResponse:
    call.mark_first_token()
    usage = usage_from(result)
    if usage is None:
        usage = Usage(estimate_prompt(body), count_tokens(delivered_text(result)), estimated=True)
        result["usage"] = estimated_usage(usage.prompt_tokens, usage.completion_tokens)
    call.usage = usage
    result["model"] = call.requested_model
    if claim is not None:
        idempotency.complete(claim, result)
    response = with_headers(dialect.render(call, result), limit_headers(call))
    gateway_ms = max(0.0, call.elapsed_ms() - call.upstream_ms)
    response["Server-Timing"] = f"gateway;dur={gateway_ms:.1f}, upstream;dur={call.upstream_ms:.1f}"
    metering.settle(call)
    return response


def stream_response(
    call: Call,
    upstream: UpstreamStream,
    body: dict[str, Any],
    dialect: Dialect,
    claim: idempotency.Claim | None = None,
) -> StreamingHttpResponse:
    call.prompt_estimate = estimate_prompt(body)
    meter = UsageMeter(call, call.prompt_estimate)
    upstream_done = False
    begun = lost_streams.begin(call)  # recorded as incomplete should this process die
    accumulated = idempotency.Accumulator() if claim is not None else None

    def chunks() -> Iterator[dict[str, Any]]:
        nonlocal upstream_done
        last: dict[str, Any] = {}
        for chunk in upstream:
            lost_streams.renew(call)
            meter.saw(chunk)
            chunk["model"] = call.requested_model
            if accumulated is not None:
                accumulated.add(chunk)
            last = chunk
            yield chunk
        upstream_done = True
        if meter.reported is None:  # the upstream kept quiet: an estimate, marked as one
            yield {
                "id": last.get("id"),
                "object": last.get("object", "chat.completion.chunk"),
                "created": last.get("created"),
                "model": call.requested_model,
                "choices": [],
                "usage": estimated_usage(meter.prompt_estimate, meter.delivered_tokens),
            }

    def events() -> Iterator[bytes]:
        try:
            source = chunks()
            yield from dialect.render_stream(call, _delivering(source, meter, call))
        except UpstreamFailure as failure:
            call.incomplete = True
            error = stream_failure(failure)
            call.fail(error.status, error.code)
            yield dialect.stream_error(error)
        except GeneratorExit:
            if not upstream_done:  # a client may hang up once it has read the last event
                call.incomplete = True
                call.fail(499, "client_disconnected")
            raise
        except Exception:
            log.exception("stream of call %s failed", call.call_id)
            call.incomplete = True
            call.fail(502, "upstream_error")
            yield dialect.stream_error(
                ApiError(502, "upstream_error", "The stream failed; it has been logged.")
            )
        finally:
            finish()

    def finish() -> None:
        """Once, however the stream ends (also if it is closed before it ever started)."""
        if call.settled:
            return
        try:
            upstream.close()
            meter.finish()
            if claim is not None:
                if upstream_done and not call.incomplete and accumulated is not None:
                    result = accumulated.result()
                    result["usage"] = result["usage"] or estimated_usage(
                        call.usage.prompt_tokens, call.usage.completion_tokens
                    )
                    idempotency.complete(claim, result)
                else:
                    idempotency.release(claim)
        finally:
            if not upstream_done and call.status < 400:
                call.incomplete = True
                call.fail(499, "client_disconnected")
            if begun and not lost_streams.end(call):
                call.settled = True  # a sweep settled and recorded it, once
            else:
                metering.settle(call)

    response = StreamingHttpResponse(
        ClosingStream(events(), finish), content_type=dialect.stream_content_type
    )
    with_headers(response, limit_headers(call))
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def stream_failure(failure: UpstreamFailure) -> ApiError:
    """The final event of a stream its upstream broke off: a stall past the idle timeout is
    504 upstream_timeout, anything else (a reset, garbage, an in-band error) 502."""
    if failure.kind == "timeout":
        return ApiError(
            504, "upstream_timeout", "The upstream stopped sending mid-stream (idle timeout)."
        )
    return ApiError(502, "upstream_error", f"The upstream stream broke off: {failure.message}.")


class ClosingStream:
    """The body of a streamed response: `close()` (which the WSGI server calls, whatever
    happened) runs `finish` even for a generator that never started, whose own `finally`
    would not run."""

    def __init__(self, events: Iterator[bytes], finish: Any) -> None:
        self._events = events
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        try:
            self._events.close()  # type: ignore[attr-defined]
        finally:
            self._finish()


def _delivering(
    source: Iterator[dict[str, Any]], meter: UsageMeter, call: Call
) -> Iterator[dict[str, Any]]:
    """Counts a chunk as delivered once the consumer asks for the next one (so it was sent)."""
    for chunk in source:
        if delivered_text(chunk):
            call.mark_first_token()
        yield chunk
        meter.delivered(chunk)


def limit_headers(call: Call) -> dict[str, str]:
    return dict(call.admission.headers) if call.admission is not None else {}


def with_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response
