from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3._collections import RecentlyUsedContainer
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError

CONNECT_TIMEOUT = 5.0


class UpstreamFailure(Exception):
    """A call that did not produce a usable answer. `kind` says what failed:
    connect | timeout | status | protocol | config.

    `retryable` failures move the router to the next deployment; `key_fault` ones also cool the
    API key used; the others are the client's own fault and go back to it as `client_status`.
    Messages are safe to show: never an upstream key or an upstream's auth error body.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        client_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.client_message = client_message

    @property
    def key_fault(self) -> bool:
        return self.kind == "status" and self.status in (401, 402, 403, 429)

    @property
    def retryable(self) -> bool:
        """Another deployment may do better. An upstream 404/405/501 means this deployment does
        not serve the model or the endpoint (an Ollama host that lacks it): the catalog's
        fault, not the client's."""
        if self.kind in ("connect", "timeout", "protocol", "config"):
            return True
        if self.status in (404, 405):
            return True
        return self.status is not None and (self.status >= 500 or self.key_fault)

    def __repr__(self) -> str:
        return f"UpstreamFailure({self.kind!r}, {self.message!r}, status={self.status})"


class UpstreamStream:
    """An open streamed answer: iterate for canonical chunks; close() releases the connection."""

    def __init__(self, events: Iterator[dict[str, Any]], response: Any) -> None:
        self._events = events
        self._response = response
        self.first: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.first is not None:
            first, self.first = self.first, None
            yield first
        yield from self._events

    def prime(self) -> None:
        """Read the first event now, so failures before the first byte can fail over."""
        try:
            self.first = next(self._events)
        except StopIteration:
            raise UpstreamFailure(
                "protocol", "the upstream closed the stream without data"
            ) from None

    def set_idle_timeout(self, seconds: float) -> None:
        """From now on, the upstream silent for longer than `seconds` between two reads ends the
        stream (a read timeout, hence a `timeout` failure): a stall, not a slow first byte."""
        sock = getattr(getattr(self._response, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(seconds)

    def close(self) -> None:
        # Closing a broken connection must not mask the real outcome.
        with contextlib.suppress(Exception):
            self._response.close()


# --- pinned upstreams ----------------------------------------------------------------------------
#
# A customer's own server is called at the address its name resolved to when it was checked
# (proxy.egress), never at whatever the name resolves to later (DNS rebinding). The catalog
# snapshot names such an upstream `upstream-<id>.pinned.invalid` in its base URL and installs a
# Pin for that name: the pool manager then connects to the pinned address while sending the
# customer's host name as Host and, over https, as SNI and the certificate's expected name.
# `.invalid` never resolves (RFC 6761): without its pin, a call fails instead of resolving.

PINNED_HOST_SUFFIX = ".pinned.invalid"


@dataclass(frozen=True, slots=True)
class Pin:
    scheme: str  # http | https
    address: str  # the IP connected to
    port: int
    host_header: str  # host[:port] as the customer's URL has it
    server_hostname: str  # SNI and certificate name (https)


class PinMissing(HTTPError):
    """A call to a pinned name this process has no pin for (the upstream is gone)."""


class _SendsHostHeader:
    """A pool connected to an IP address that names the server by its host name."""

    host_header = ""

    def urlopen(self, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any):
        headers = dict(headers or {})
        if not any(name.lower() == "host" for name in headers):
            headers["Host"] = self.host_header
        return super().urlopen(method, url, body, headers, **kw)  # type: ignore[misc]


class PinnedHTTPConnectionPool(_SendsHostHeader, HTTPConnectionPool):
    pass


class PinnedHTTPSConnectionPool(_SendsHostHeader, HTTPSConnectionPool):
    pass


class PinningPoolManager(urllib3.PoolManager):
    """urllib3's PoolManager, plus pools for pinned upstreams. An unpinned call costs one
    `str.endswith` more than before."""

    def __init__(self, num_pools: int = 10, **connection_pool_kw: Any) -> None:
        super().__init__(num_pools=num_pools, **connection_pool_kw)
        self.pins: dict[str, Pin] = {}
        self._pinned = RecentlyUsedContainer(num_pools, dispose_func=lambda pool: pool.close())
        self._pinned_lock = threading.Lock()

    def connection_from_host(
        self,
        host: str | None,
        port: int | None = None,
        scheme: str | None = "http",
        pool_kwargs: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        if host is not None and host.endswith(PINNED_HOST_SUFFIX):
            pin = self.pins.get(host)
            if pin is None:
                raise PinMissing(f"no address is pinned for {host}")
            return self.pool_for(pin)
        return super().connection_from_host(host, port, scheme, pool_kwargs)

    def pool_for(self, pin: Pin) -> HTTPConnectionPool:
        """The pool that connects to `pin.address` (also used directly to check a server).
        The address is checked against the SSRF rules on every call, not only when it was
        saved: tightening LOCAL_UPSTREAM_ALLOWED_CIDRS applies to the next call."""
        check_pin(pin)
        with self._pinned_lock:
            pool = self._pinned.get(pin)
            if pool is None:
                kwargs = dict(self.connection_pool_kw)
                pool_class: type[HTTPConnectionPool] = PinnedHTTPConnectionPool
                if pin.scheme == "https":
                    pool_class = PinnedHTTPSConnectionPool
                    kwargs.update(
                        server_hostname=pin.server_hostname, assert_hostname=pin.server_hostname
                    )
                pool = pool_class(pin.address, pin.port, **kwargs)
                pool.host_header = pin.host_header
                self._pinned[pin] = pool
            return pool


def check_pin(pin: Pin) -> None:
    """403 address_not_allowed when a pinned address is no longer one the gateway may call."""
    from ..egress import address_allowed
    from ..errors import ApiError

    if not address_allowed(pin.address):
        raise ApiError(
            403,
            "address_not_allowed",
            f"Your server {pin.host_header} is at {pin.address}, an address this gateway no "
            "longer calls (loopback, private, link-local or otherwise non-public, and not in "
            "the operator's allowed networks). Connect it again at a public address.",
        )


_pool: PinningPoolManager | None = None
_pool_lock = threading.Lock()


def http() -> PinningPoolManager:
    """The process's connection pools (thread-safe): connections are reused, never opened per
    request. urllib3 directly rather than a `requests` session: half the client-side cost per
    call (0.56 vs 1.12 ms measured here), on the path every request takes."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = PinningPoolManager(num_pools=64, maxsize=64, block=False, retries=False)
    return _pool


def set_pins(pins: dict[str, Pin]) -> None:
    """The catalog snapshot's pins replace this process's (one reference swap)."""
    http().pins = pins


# The most output tokens per answer a call has paid for (a prepaid call's hold), set by the
# pipeline: the canonical max_tokens already says it; a provider sending a body of its own (a
# native Anthropic body, extended thinking) keeps its output limit at or under this.
OUTPUT_CAP = "_output_cap"


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The body without the gateway's private keys (`_anthropic`, …): what dialects pass along
    for a provider that understands them, never sent to an upstream that does not."""
    if not any(name.startswith("_") for name in body):
        return body
    return {name: value for name, value in body.items() if not name.startswith("_")}


# --- answer size caps ------------------------------------------------------------------------------
#
# An upstream's answer is read within a cap on its whole body (a streamed one: all its lines) and
# on any one line of a stream, so that a server answering 200 MB, or an SSE line that never ends,
# costs a worker a bounded amount of memory. Generous for the operator's own upstreams
# (UPSTREAM_MAX_*), tight for a server a customer names (LOCAL_UPSTREAM_MAX_*: pinned upstreams).


@dataclass(frozen=True, slots=True)
class AnswerCaps:
    body: int
    line: int
    body_setting: str
    line_setting: str


def caps_for(url: str) -> AnswerCaps:
    """The caps for an answer from `url`: a customer's server if it is a pinned name."""
    from django.conf import settings

    if PINNED_HOST_SUFFIX in url:
        return AnswerCaps(
            settings.LOCAL_UPSTREAM_MAX_BODY_BYTES,
            settings.LOCAL_UPSTREAM_MAX_LINE_BYTES,
            "LOCAL_UPSTREAM_MAX_BODY_BYTES",
            "LOCAL_UPSTREAM_MAX_LINE_BYTES",
        )
    return AnswerCaps(
        settings.UPSTREAM_MAX_BODY_BYTES,
        settings.UPSTREAM_MAX_LINE_BYTES,
        "UPSTREAM_MAX_BODY_BYTES",
        "UPSTREAM_MAX_LINE_BYTES",
    )


def shown_size(size: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def too_large(what: str, cap: int, setting: str) -> UpstreamFailure:
    """An answer over its cap: a protocol failure whose message names the cap."""
    return UpstreamFailure(
        "protocol", f"the upstream's {what} was larger than the {shown_size(cap)} cap ({setting})"
    )


def timeout_for(seconds: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=min(CONNECT_TIMEOUT, seconds), read=seconds)


class Provider:
    """The interface of an upstream kind."""

    def chat(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        raise NotImplementedError

    def completion(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        raise NotImplementedError

    def embeddings(self, base_url: str, key: str | None, body: dict, *, timeout: float) -> dict:
        raise NotImplementedError

    def responses(
        self, base_url: str, key: str | None, body: dict, *, stream: bool, timeout: float
    ) -> dict | UpstreamStream:
        """A Responses API call sent natively (the catalog's `responses: true`); a kind without
        its own Responses API serves it as a chat."""
        return self.chat(base_url, key, body, stream=stream, timeout=timeout)
