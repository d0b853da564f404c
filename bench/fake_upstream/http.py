"""A minimal HTTP/1.1 server layer on asyncio streams.

Requests: keep-alive (HTTP/1.1 default, HTTP/1.0 with ``Connection: keep-alive``),
``Content-Length`` or chunked request bodies, ``Expect: 100-continue``, pipelining (requests are
answered in order). Responses: ``Content-Length`` bodies, or streams sent with
``Transfer-Encoding: chunked`` (HTTP/1.1) or delimited by closing the connection (HTTP/1.0, or
when asked to), flushed per event.
"""

from __future__ import annotations

import asyncio
import json
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

MAX_HEAD = 256 * 1024
MAX_BODY = 64 * 1024 * 1024
SERVER_NAME = "tollgate-fake-upstream"

REASONS = {status.value: status.phrase for status in HTTPStatus}
REASONS[529] = "Site is overloaded"


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query", "target", "version")

    def __init__(
        self, method: str, target: str, version: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.path, _, self.query = target.partition("?")
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise HttpError(413, "request body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """The next request on the connection, or None when the client closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    while lines and not lines[0]:
        lines.pop(0)
    if not lines:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, "unsupported HTTP version")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "malformed header line")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    encoding = headers.get("transfer-encoding")
    if encoding:
        if encoding.lower().rsplit(",", 1)[-1].strip() != "chunked":
            raise HttpError(501, "unsupported transfer-encoding")
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise HttpError(400, "bad content-length") from None
        if length < 0:
            raise HttpError(400, "bad content-length")
        if length > MAX_BODY:
            raise HttpError(413, "request body too large")
        body = await reader.readexactly(length) if length else b""
    else:
        body = b""
    return Request(method.upper(), target, version, headers, body)


_date_cache: list[Any] = [0, ""]


def http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True)
    return _date_cache[1]


def head_bytes(
    status: int,
    headers: list[tuple[str, str]],
    *,
    keep_alive: bool,
    length: int | None = None,
    chunked: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    lines.append(f"Date: {http_date()}")
    lines.append(f"Server: {SERVER_NAME}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def peer_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """True once the client closed (FIN or reset) its side of the connection."""
    return reader.at_eof() or reader.exception() is not None or writer.transport.is_closing()


async def wait_or_gone(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float
) -> bool:
    """Sleep ``seconds``, waking every 20 ms to notice a client that left; True if it left."""
    deadline = time.monotonic() + seconds
    while True:
        if peer_gone(reader, writer):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.02))
