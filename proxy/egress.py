"""Calls to a server a customer names (their own Ollama): the SSRF guard and the pin.

A customer's base URL is checked once, when it is saved (`check`):

- http or https, a host, a port and a path prefix if wanted; no `user:password@`, no query, no
  fragment (`invalid_base_url`);
- the host is resolved once, and EVERY address it resolves to must be public, after unwrapping
  the IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, compatible, 6to4, NAT64,
  Teredo): loopback, private, link-local, shared (CGNAT), reserved and documentation addresses
  are refused unless inside a CIDR of settings.LOCAL_UPSTREAM_ALLOWED_CIDRS; unspecified,
  multicast and cloud metadata addresses always are (`address_not_allowed`);
- the first address is pinned (`Upstream.pinned_address`): every later call connects to it
  (proxy.providers.base), so a DNS answer that changes afterwards (rebinding) changes nothing;
- redirects are never followed; a 3xx answer is an error (`redirect_not_allowed`);
- the pinned address is checked again on every call (proxy.providers.base.check_pin), so that
  an operator tightening LOCAL_UPSTREAM_ALLOWED_CIDRS cuts off a saved server at once (403
  `address_not_allowed`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as TimedOut

from .errors import ApiError
from .providers.base import PINNED_HOST_SUFFIX, Pin, http, timeout_for

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 300  # Upstream.base_url's length
_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")
# Instance-metadata services: refused even inside an allowed CIDR.
METADATA = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32")
)
NAT64 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


@dataclass(frozen=True, slots=True)
class Target:
    """A checked base URL: where to connect (`address`) and what to call the server."""

    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int  # the effective port
    netloc: str  # host[:port] as the URL has it (the Host header)
    path: str  # a path prefix, without a trailing slash ("" mostly)
    address: str = ""  # the pinned IP, once resolved

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"

    @property
    def pin(self) -> Pin:
        return Pin(self.scheme, self.address, self.port, self.netloc, self.host)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_base_url", f"base_url: {message}", param="base_url")


def parse(url: object) -> Target:
    """The URL's parts, or 400 invalid_base_url. Resolves nothing."""
    example = "a URL such as http://ollama.example.com:11434"
    if not isinstance(url, str) or not url.strip():
        raise _invalid(f"expected {example}")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ch in "\\\x7f" for ch in url):
        raise _invalid("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        reason = str(exc)
        raise _invalid(f"not a valid URL ({reason[:1].lower()}{reason[1:]})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _invalid(f"only http and https are allowed, not {scheme or 'no scheme'!r}")
    if "@" in parts.netloc:
        raise _invalid("must not contain credentials (user:password@); send the key as api_key")
    if "?" in url or "#" in url:
        raise _invalid("must not have a query string or a fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise _invalid(f"has no host; expected {example}")
    if port == 0:
        raise _invalid("port 0 is not a port")
    literal = ip_literal(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            raise _invalid(f"{host!r} is not a valid host name") from None
        if not _HOSTNAME.match(host):
            raise _invalid(f"{host!r} is not a valid host name")
    shown_host = f"[{host}]" if literal is not None and literal.version == 6 else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    return Target(
        scheme=scheme,
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        netloc=netloc,
        path=parts.path.rstrip("/"),
    )


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# --- addresses -----------------------------------------------------------------------------------


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (and may reach through a translator)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if (
        any(address in net for net in NAT64)
        or address in IPV4_TRANSLATED
        or (int(address) >> 32 == 0 and int(address) > 1)
    ):
        found.append(low32)
    return found


def forms_of(address: IPAddress) -> list[IPAddress]:
    """The address as it is connected to (a mapped IPv6 address is its IPv4 address), then
    every IPv4 address embedded in it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return [address.ipv4_mapped]
        return [address, *embedded_ipv4(address)]
    return [address]


def is_public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def allowed_networks() -> tuple[Network, ...]:
    return _networks(tuple(settings.LOCAL_UPSTREAM_ALLOWED_CIDRS))


def address_allowed(text: str, networks: tuple[Network, ...] | None = None) -> bool:
    """Whether a customer's server may be called at this address."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # no IPv6 zone
    except ValueError:
        return False
    networks = allowed_networks() if networks is None else networks
    forms = forms_of(address)
    if any(f.is_unspecified or f.is_multicast or any(f in m for m in METADATA) for f in forms):
        return False
    return all(is_public(f) or any(f in net for net in networks) for f in forms)


def resolve(target: Target) -> Target:
    """The target with its address: the host resolved once, every address checked; 400
    host_not_found or address_not_allowed."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses = list(
        dict.fromkeys(
            str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)
        )
    )
    if not addresses:
        raise ApiError(
            400,
            "host_not_found",
            f"base_url: the host {target.host!r} could not be resolved.",
            param="base_url",
        )
    if not all(address_allowed(a) for a in addresses):
        raise ApiError(
            400,
            "address_not_allowed",
            f"base_url: {target.host!r} is or resolves to a loopback, private, link-local, "
            "metadata or otherwise non-public address. Your server must be reachable at a "
            "public address.",
            param="base_url",
        )
    return Target(target.scheme, target.host, target.port, target.netloc, target.path, addresses[0])


def check(url: object) -> Target:
    """A customer's base URL, parsed, resolved and checked (400s as above)."""
    return resolve(parse(url))


def target_of(base_url: str, address: str) -> Target:
    """A stored upstream's target (its URL was checked when it was saved)."""
    target = parse(base_url)
    return Target(target.scheme, target.host, target.port, target.netloc, target.path, address)


def call_url(upstream_id: int, target: Target) -> tuple[str, Pin]:
    """The base URL the gateway calls a pinned upstream by, and the pin that name stands for."""
    name = f"upstream-{upstream_id}{PINNED_HOST_SUFFIX}"
    return f"{target.scheme}://{name}:{target.port}{target.path}", target.pin


# --- calls ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    data: bytes


def fetch(
    target: Target,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    max_bytes: int = 2 * 1024 * 1024,
) -> Fetched:
    """One request to the pinned address, no redirect followed, at most `max_bytes` read.
    400 redirect_not_allowed for a 3xx; 400 connection_failed when there is no answer."""
    shown = f"{target.base_url}{path}"
    pool = http().pool_for(target.pin)
    try:
        response = pool.urlopen(
            method,
            f"{target.path}{path}",
            headers=headers or {},
            timeout=timeout_for(timeout),
            redirect=False,
            retries=False,
            preload_content=False,
        )
    except NewConnectionError as exc:  # a subclass of TimedOut, for historical reasons
        raise failed(f"could not connect to {shown} ({_reason(exc)}).") from None
    except TimedOut:
        raise failed(f"{shown} did not answer within {timeout:g} s.") from None
    except (HTTPError, OSError) as exc:
        raise failed(f"could not connect to {shown} ({_reason(exc)}).") from None
    reusable = False
    try:
        if 300 <= response.status < 400:
            location = str(response.headers.get("Location", ""))[:200]
            raise ApiError(
                400,
                "redirect_not_allowed",
                f"{shown} answered {response.status} (a redirect to {location or 'elsewhere'}). "
                "Redirects are not followed: use the server's own address as base_url.",
                param="base_url",
            )
        data = _read_all(response, shown, max_bytes, time.monotonic() + 2 * timeout)
        reusable = True
        return Fetched(response.status, data)
    except (HTTPError, OSError) as exc:
        raise failed(f"{shown} broke off its answer ({_reason(exc)}).") from None
    finally:
        if reusable:
            response.release_conn()
        else:
            response.close()


def _read_all(response: Any, shown: str, max_bytes: int, deadline: float) -> bytes:
    """The body, as it arrives, within a size and a total time (a server sending a byte now and
    then never holds the thread for longer)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise failed(f"{shown} answered with more than {max_bytes} bytes.")
        if time.monotonic() > deadline:
            raise failed(f"{shown} did not finish its answer in time.")
    return b"".join(chunks)


def failed(message: str) -> ApiError:
    return ApiError(400, "connection_failed", message, param="base_url")


def _reason(exc: Exception) -> str:
    if isinstance(exc, SSLError):
        inner = exc.args[0] if exc.args else exc
        detail = getattr(inner, "verify_message", None) or getattr(inner, "reason", None) or inner
        return f"TLS failed: {str(detail)[:160]}"
    if "refused" in str(exc).lower():
        return "connection refused"
    return type(exc).__name__
