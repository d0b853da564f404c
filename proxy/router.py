"""Choose a deployment, call it, and fail over.

Within the best priority group, deployments are tried in a weighted random order; then the next
group. Connect errors, timeouts, 429 and 5xx move on to the next deployment (bounded attempts and
a total deadline); other 4xx go back to the client. A deployment failing repeatedly is cooled
down, and an API key answering 401/402/403/429 is cooled alone; both states live in the shared
cache, so every process skips them. A stream fails over only before its first byte.

Who a failure cools a deployment for: a connect error, a timeout, or an upstream saying it does
not serve the model (404/405) is the deployment's own fault, and counts for everyone. An answer
to the request itself (a 5xx, an invalid answer) may be the request's content's doing (an input
the model server chokes on), so it counts for the caller's workspace: ROUTER_FAILURES_TO_COOL of
them cool the deployment for that workspace alone, and for everyone only once failures in the
window come from ROUTER_WORKSPACES_TO_COOL workspaces or more. One tenant cannot take a shared
model offline for the others; an upstream failing everyone's calls still cools down for all.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from config import logs, metrics
from config.shared_cache import shared as cache

from .credentials import CredentialError, reveal
from .errors import ApiError
from .providers import UpstreamFailure, UpstreamStream, provider_for
from .registry import DeploymentInfo, ModelInfo, UpstreamInfo

log = logging.getLogger(__name__)
LOCAL_SECONDS = 1.0  # how long a process trusts what it read of the shared cool-down state


@dataclass
class RouteResult:
    deployment: DeploymentInfo
    result: dict | UpstreamStream
    attempts: int
    upstream_ms: float


def weighted_order(deployments: list[DeploymentInfo], rng: random.Random) -> list[DeploymentInfo]:
    """A random order where heavier deployments tend to come first (Efraimidis–Spirakis)."""
    return sorted(deployments, key=lambda d: rng.random() ** (1.0 / max(d.weight, 1)), reverse=True)


def _cooldown_key(deployment_id: int) -> str:
    return f"router:cool:dep:{deployment_id}"


def _failure_key(deployment_id: int) -> str:
    return f"router:fail:dep:{deployment_id}"


def _workspace_cooldown_key(deployment_id: int, workspace: str) -> str:
    return f"router:cool:dep:{deployment_id}:ws:{workspace}"


def _workspace_failure_key(deployment_id: int, workspace: str) -> str:
    return f"router:fail:dep:{deployment_id}:ws:{workspace}"


def _failing_workspaces_key(deployment_id: int) -> str:
    return f"router:failws:dep:{deployment_id}"


def _failing_workspace_mark(deployment_id: int, workspace: str) -> str:
    return f"router:failws:dep:{deployment_id}:ws:{workspace}"


def content_fault(failure: UpstreamFailure) -> bool:
    """The upstream answered this request with an error (5xx, an invalid answer): possibly the
    request's own doing. Connect errors, timeouts, 404/405 (the deployment lacks the model) and
    configuration faults are the deployment's."""
    if failure.kind == "protocol":
        return True
    return failure.kind == "status" and failure.status is not None and failure.status >= 500


def _key_cooldown_key(upstream_id: int, index: int) -> str:
    return f"router:cool:key:{upstream_id}:{index}"


@dataclass(frozen=True)
class DeploymentState:
    cooled_until: float | None  # epoch seconds, while it cools down
    recent_failures: int  # failures counting toward its next cool-down


def deployment_states(deployment_ids: Iterable[int]) -> dict[int, DeploymentState]:
    """The shared state of these deployments as every process sees it now, in one read (the
    operator's status page; the hot path keeps its own per-process view in Router)."""
    ids = list(deployment_ids)
    found = cache.get_many([_cooldown_key(i) for i in ids] + [_failure_key(i) for i in ids])
    now = time.time()
    states = {}
    for deployment_id in ids:
        until = found.get(_cooldown_key(deployment_id)) or 0.0
        states[deployment_id] = DeploymentState(
            cooled_until=until if until > now else None,
            recent_failures=int(found.get(_failure_key(deployment_id)) or 0),
        )
    return states


def cooled_keys(key_counts: Mapping[int, int]) -> dict[int, dict[int, float]]:
    """Upstream id → {index of a key cooling down now: until when}, from {upstream id: its
    number of keys}, in one read."""
    names = {
        (u, i): _key_cooldown_key(u, i) for u, count in key_counts.items() for i in range(count)
    }
    found = cache.get_many(list(names.values()))
    now = time.time()
    cooled: dict[int, dict[int, float]] = {}
    for (upstream_id, index), name in names.items():
        until = found.get(name)
        if until and until > now:
            cooled.setdefault(upstream_id, {})[index] = until
    return cooled


class Router:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._key_turn: dict[int, itertools.count] = defaultdict(itertools.count)
        self._failing: set[int] = set()  # deployments with a failure count to clear on success
        self._seen: dict[int, tuple[float, float]] = {}  # deployment → (read at, cooled until)
        # (deployment, workspace) → (read at, cooled until for that workspace alone)
        self._seen_for: dict[tuple[int, str], tuple[float, float]] = {}

    def clear(self) -> None:
        """Forget this process's view of the shared state (tests; after a catalog reset)."""
        self._seen.clear()
        self._seen_for.clear()
        self._failing.clear()
        self._key_turn.clear()

    # --- shared state ---------------------------------------------------------------------------

    def cooled_until(
        self, deployments: list[DeploymentInfo], workspace: str | None = None
    ) -> dict[int, float]:
        """Deployments cooling down now (for everyone, or for `workspace` alone) → until when.
        Each process re-reads the shared state at most once a second per deployment, and at
        once after a failure of its own."""
        now = time.time()
        stale = [
            d.id for d in deployments if now - self._seen.get(d.id, (-1e9, 0.0))[0] >= LOCAL_SECONDS
        ]
        stale_for = []
        if workspace:
            if len(self._seen_for) > 10_000:  # bounded: forget, the shared state stays
                self._seen_for.clear()
            stale_for = [
                d.id
                for d in deployments
                if now - self._seen_for.get((d.id, workspace), (-1e9, 0.0))[0] >= LOCAL_SECONDS
            ]
        if stale or stale_for:
            found = cache.get_many(
                [_cooldown_key(i) for i in stale]
                + [_workspace_cooldown_key(i, workspace or "") for i in stale_for]
            )
            for deployment_id in stale:
                self._seen[deployment_id] = (now, found.get(_cooldown_key(deployment_id)) or 0.0)
            for deployment_id in stale_for:
                until = found.get(_workspace_cooldown_key(deployment_id, workspace or "")) or 0.0
                self._seen_for[(deployment_id, workspace or "")] = (now, until)
        cooled = {}
        for d in deployments:
            until = self._seen[d.id][1]
            if workspace:
                until = max(until, self._seen_for[(d.id, workspace)][1])
            if until and until > now:
                cooled[d.id] = until
        return cooled

    def record_failure(
        self, deployment: DeploymentInfo, failure: UpstreamFailure | None = None,
        workspace: str | None = None,
    ) -> None:  # fmt: skip
        """Count a failure toward a cool-down: for everyone, or first for the caller's workspace
        when the request's content may have caused it (see the module's docstring)."""
        name = _failure_key(deployment.id)
        window = settings.ROUTER_FAILURE_WINDOW_SECONDS
        self._failing.add(deployment.id)
        self._seen.pop(deployment.id, None)  # re-read the shared state on the next call
        if workspace and failure is not None and content_fault(failure):
            self._seen_for.pop((deployment.id, workspace), None)
            own = cache.bump(_workspace_failure_key(deployment.id, workspace), timeout=window)
            # Each workspace counts once a window among the failing ones, also after its own
            # cool-down reset its failures (else one workspace would count as two).
            if cache.add(_failing_workspace_mark(deployment.id, workspace), 1, timeout=window):
                cache.bump(_failing_workspaces_key(deployment.id), timeout=window)
            failing = int(cache.get(_failing_workspaces_key(deployment.id)) or 0)
            failures = cache.bump(name, timeout=window)
            if failing < settings.ROUTER_WORKSPACES_TO_COOL:
                if own >= settings.ROUTER_FAILURES_TO_COOL:
                    self._cool_for(deployment, workspace)
                return
        else:
            failures = cache.bump(name, timeout=window)
        if failures >= settings.ROUTER_FAILURES_TO_COOL:
            until = time.time() + settings.ROUTER_COOLDOWN_SECONDS
            cache.set(
                _cooldown_key(deployment.id), until, timeout=settings.ROUTER_COOLDOWN_SECONDS + 60
            )
            cache.delete(name)
            cache.delete(_failing_workspaces_key(deployment.id))
            metrics.cooled(deployment.upstream.name, "deployment")
            log.warning(
                "deployment %s cooled down for %ss", deployment.id, settings.ROUTER_COOLDOWN_SECONDS
            )

    def _cool_for(self, deployment: DeploymentInfo, workspace: str) -> None:
        seconds = settings.ROUTER_COOLDOWN_SECONDS
        cache.set(
            _workspace_cooldown_key(deployment.id, workspace),
            time.time() + seconds,
            timeout=seconds + 60,
        )
        cache.delete(_workspace_failure_key(deployment.id, workspace))
        metrics.cooled(deployment.upstream.name, "workspace")
        log.warning(
            "deployment %s cooled down for %ss for workspace %s alone (its calls' failures)",
            deployment.id,
            seconds,
            workspace,
        )

    def record_success(self, deployment: DeploymentInfo) -> None:
        if deployment.id in self._failing:
            self._failing.discard(deployment.id)
            cache.delete(_failure_key(deployment.id))

    def pick_key(self, upstream: UpstreamInfo) -> tuple[int, str | None] | None:
        """(index, key) of the next key in turn that is not cooled; None if all are."""
        keys = upstream.api_keys
        if not keys:
            return (-1, None)
        start = next(self._key_turn[upstream.id])
        order = [(start + i) % len(keys) for i in range(len(keys))]
        cooled = cache.get_many([_key_cooldown_key(upstream.id, i) for i in order])
        now = time.time()
        for index in order:
            until = cooled.get(_key_cooldown_key(upstream.id, index))
            if until and until > now:
                continue
            try:
                key = reveal(keys[index])
                logs.note_secret(key)  # kept out of this request's log lines
                return index, key
            except CredentialError as exc:
                log.error("upstream %s key #%s unusable: %s", upstream.name, index, exc)
        return None

    def cool_key(self, upstream: UpstreamInfo, index: int, seconds: float | None) -> None:
        seconds = max(1.0, seconds or settings.ROUTER_KEY_COOLDOWN_SECONDS)
        cache.set(
            _key_cooldown_key(upstream.id, index), time.time() + seconds, timeout=int(seconds) + 60
        )
        metrics.cooled(upstream.name, "key")
        log.warning("upstream %s key #%s cooled for %ss", upstream.name, index, seconds)

    # --- the call -------------------------------------------------------------------------------

    def candidates(
        self, model: ModelInfo, tier: str | None, workspace: str | None = None
    ) -> list[DeploymentInfo]:
        serving = [d for d in model.deployments if d.serves_tier(tier)]
        if not serving:
            raise ApiError(
                503,
                "upstream_unavailable",
                f"No deployment of {model.name} serves tier {tier!r}."
                if tier
                else f"{model.name} has no deployment.",
                headers={"Retry-After": str(settings.ROUTER_RETRY_AFTER_SECONDS)},
            )
        cooled = self.cooled_until(serving, workspace)
        ordered: list[DeploymentInfo] = []
        for priority in sorted({d.priority for d in serving}):
            group = [d for d in serving if d.priority == priority and d.id not in cooled]
            ordered += weighted_order(group, self.rng)
        if not ordered:
            wait = max(1, int(min(cooled.values()) - time.time() + 0.999))
            raise ApiError(
                503,
                "upstream_unavailable",
                f"Every deployment of {model.name} is cooling down after failures; retry in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        return ordered

    def call(
        self,
        model: ModelInfo,
        body: dict[str, Any],
        *,
        operation: str,
        stream: bool,
        tier: str | None,
        workspace: str | None = None,
    ) -> RouteResult:
        """Call the model; `workspace` (the caller's) is whom failures that the request's own
        content may have caused are counted against."""
        deadline = time.monotonic() + settings.ROUTER_DEADLINE_SECONDS
        logs.note_body(body)  # its prompt is kept out of this request's log lines
        last: UpstreamFailure | None = None
        attempts = 0
        for deployment in self.candidates(model, tier, workspace):
            while attempts < settings.ROUTER_MAX_ATTEMPTS and time.monotonic() < deadline:
                picked = self.pick_key(deployment.upstream)
                if picked is None:
                    last = UpstreamFailure(
                        "status", "every key of the upstream is cooling down", status=429
                    )
                    break
                attempts += 1
                started = time.perf_counter()
                try:
                    result = self._attempt(deployment, picked[1], body, operation, stream, deadline)
                except UpstreamFailure as failure:
                    last = failure
                    metrics.upstream_failed(deployment.upstream.name, failure.kind, failure.status)
                    log.warning(
                        "deployment %s (%s) failed: %s",
                        deployment.id,
                        deployment.upstream.name,
                        failure.message,
                    )
                    if failure.key_fault and picked[1] is not None:
                        self.cool_key(deployment.upstream, picked[0], failure.retry_after)
                        continue  # the key's fault, not the deployment's: next key, same place
                    if not failure.retryable:
                        raise client_error(failure) from failure
                    self.record_failure(deployment, failure, workspace)
                    break
                self.record_success(deployment)
                upstream_ms = (time.perf_counter() - started) * 1000
                return RouteResult(deployment, result, attempts, upstream_ms)
        raise exhausted(model, last)

    def _attempt(
        self,
        deployment: DeploymentInfo,
        key: str | None,
        body: dict[str, Any],
        operation: str,
        stream: bool,
        deadline: float,
    ) -> dict | UpstreamStream:
        provider = provider_for(deployment.upstream.kind)
        timeout = max(0.1, min(deployment.upstream.timeout, deadline - time.monotonic()))
        payload = {**body, "model": deployment.upstream_model}
        base = deployment.upstream.base_url
        if operation == "embeddings":
            return provider.embeddings(base, key, payload, timeout=timeout)
        if operation == "responses" and deployment.upstream.serves_responses:
            call = provider.responses  # the client's Responses body, sent as it is
        elif operation in ("chat", "responses"):
            call = provider.chat
        else:
            call = provider.completion
        result = call(base, key, payload, stream=stream, timeout=timeout)
        if isinstance(result, UpstreamStream):
            try:
                result.prime()
            except BaseException:
                result.close()
                raise
            result.set_idle_timeout(min(timeout, settings.GATEWAY_STREAM_IDLE_SECONDS))
        return result


def client_error(failure: UpstreamFailure) -> ApiError:
    """An upstream 4xx that is the client's own doing, passed on without upstream secrets."""
    status = failure.status or 400
    code = {404: "model_not_found", 413: "request_too_large"}.get(status, "invalid_request_error")
    return ApiError(status, code, failure.client_message or "The upstream rejected the request.")


def exhausted(model: ModelInfo, last: UpstreamFailure | None) -> ApiError:
    if last is not None and last.kind == "timeout":
        return ApiError(
            504, "upstream_timeout", f"The upstream serving {model.name} did not answer in time."
        )
    if last is not None and last.kind == "protocol":  # garbage, or a 200 carrying an error
        return ApiError(
            502,
            "upstream_error",
            f"The upstream serving {model.name} sent an invalid answer: {last.message}.",
        )
    retry_after = settings.ROUTER_RETRY_AFTER_SECONDS
    if last is not None and last.retry_after:
        retry_after = max(1, int(last.retry_after + 0.999))
    return ApiError(
        503,
        "upstream_unavailable",
        f"No upstream could serve {model.name} right now; retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


router = Router()
