"""A small HTTP/1.1 server with JSON bodies on asyncio streams, for the daemon's Unix-socket API.

Written by hand because the API needs only this much (no web framework is in
the dependencies): request line, headers, Content-Length bodies (no chunked
uploads), keep-alive, a route table with `{name}` path parameters, and every
malformed request answered with a 4xx status and a JSON `{"error", "reason"}`.
The peer's pid (SO_PEERCRED) is passed to handlers as the default client id.

Usage:
    routes = Routes(); routes.add("GET", "/v1/jobs/{id}", handler)     # async handler(req) -> (status, obj)
    server = await serve_unix(routes, "/tmp/x.sock")                    # socket mode 0600
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
SOCKET_MODE = 0o600
IDLE_TIMEOUT = 300.0


class HttpError(Exception):
    def __init__(self, status: int, error: str, reason: str):
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    peer_pid: int | None
    params: dict = field(default_factory=dict)
    received: float = 0.0          # perf_counter() when the whole request had been read and parsed
    parse_s: float = 0.0           # seconds from the complete header to the parsed request (body read included)

    def json(self) -> dict:
        if not self.body:
            raise HttpError(400, "bad_request", "a JSON object body is required")
        try:
            obj = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, "bad_json", f"invalid JSON body: {exc}") from exc
        if not isinstance(obj, dict):
            raise HttpError(400, "bad_json", f"the JSON body must be an object, got {type(obj).__name__}")
        return obj


class Routes:
    def __init__(self):
        self._routes: list[tuple[str, re.Pattern, object]] = []

    def add(self, method: str, pattern: str, handler) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler))

    def match(self, method: str, path: str):
        allowed = []
        for m, regex, handler in self._routes:
            hit = regex.match(path)
            if hit:
                if m == method:
                    return handler, hit.groupdict()
                allowed.append(m)
        if allowed:
            raise HttpError(405, "method_not_allowed", f"{method} is not allowed on {path}; use {', '.join(allowed)}")
        raise HttpError(404, "not_found", f"no such endpoint: {path}")


def _peer_pid(writer) -> int | None:
    sock = writer.get_extra_info("socket")
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[0]
    except (OSError, AttributeError):
        return None


async def _read_request(reader, pid) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None                                   # clean close between requests
        raise HttpError(400, "bad_request", "connection closed inside the request header") from exc
    except asyncio.LimitOverrunError as exc:
        raise HttpError(431, "header_too_large", f"request header exceeds {MAX_HEADER_BYTES} bytes") from exc
    t0 = time.perf_counter()
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError as exc:
        raise HttpError(400, "bad_request", f"malformed request line {head.splitlines()[0][:80].decode('latin-1')!r}") from exc
    if not version.startswith("HTTP/1."):
        raise HttpError(505, "bad_version", f"HTTP version {version!r} is not supported; use HTTP/1.1")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "bad_request", f"malformed header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "length_required", "chunked bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as exc:
        raise HttpError(400, "bad_request", f"Content-Length {headers['content-length']!r} is not a number") from exc
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpError(413, "body_too_large", f"body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise HttpError(400, "bad_request", f"body shorter than Content-Length {length}") from exc
    url = urlsplit(target)
    req = Request(method, url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}, headers, body, pid)
    req.received = time.perf_counter()
    req.parse_s = req.received - t0
    return req


def _encode(status: int, body, content_type: str | None, keep_alive: bool) -> bytes:
    if isinstance(body, (bytes, bytearray)):
        data, ctype = bytes(body), content_type or "application/octet-stream"
    else:
        data, ctype = json.dumps(body).encode() + b"\n", "application/json"
    phrase = HTTPStatus(status).phrase
    head = (f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + data


async def _handle(routes: Routes, reader, writer) -> None:
    pid = _peer_pid(writer)
    try:
        while True:
            keep_alive = False
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):   # no extra task per request (unlike wait_for)
                    req = await _read_request(reader, pid)
                if req is None:
                    return
                keep_alive = req.headers.get("connection", "").lower() != "close"
                handler, req.params = routes.match(req.method, req.path)
                result = await handler(req)
                status, body, ctype = (result + (None,))[:3]
            except HttpError as exc:
                status, body, ctype = exc.status, {"error": exc.error, "reason": exc.reason}, None
                keep_alive = keep_alive and exc.status < 500 and exc.status not in (400, 413, 431)
            except asyncio.TimeoutError:
                return
            except Exception as exc:  # noqa: BLE001 - a handler bug must answer 500, never kill the daemon
                status, body, ctype = 500, {"error": "internal", "reason": f"{type(exc).__name__}: {exc}"}, None
            writer.write(_encode(status, body, ctype, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve_unix(routes: Routes, path: str):
    """Listen on a Unix socket created with mode 0600 (no window where others could connect)."""
    if os.path.exists(path):
        os.unlink(path)
    old = os.umask(0o777 & ~SOCKET_MODE)
    try:
        server = await asyncio.start_unix_server(lambda r, w: _handle(routes, r, w), path=path, limit=MAX_HEADER_BYTES)
    finally:
        os.umask(old)
    os.chmod(path, SOCKET_MODE)
    return server
