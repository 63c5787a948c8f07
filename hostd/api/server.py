"""aiohttp serving the daemon's API on a private Unix socket: socket mode 0600, bounded headers and bodies, idle
timeouts, the peer's pid (SO_PEERCRED), and a JSON `{"error", "reason"}` answer even for requests too malformed to
reach a handler.

aiohttp parses HTTP/1.1 (llhttp), keeps connections alive and closes idle ones; this module adds only what the
daemon needs on top: the socket is bound here with a umask so it is never reachable by others, a live socket at
the path is refused (a stale one is replaced, anything else is never touched), and aiohttp's plain-text parse
errors are answered in the API's error format.

Usage:
    server = ApiServer(app, "/run/user/1000/tessera-hostd.sock")   # app: aiohttp.web.Application
    await server.start(); ...; await server.close()
    peer_pid(request) -> int | None
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, HttpProcessingError, LineTooLong

SOCKET_MODE = 0o600
MAX_HEADER_LINE = 8 * 1024         # bytes in the request line or in one header line
MAX_HEADERS = 64                   # header lines per request (with MAX_HEADER_LINE: a request header <= 512 KiB)
MAX_BODY_BYTES = 32 * 1024 * 1024  # default; DaemonConfig.max_body
IDLE_TIMEOUT = 300.0               # s an idle or half-sent connection stays open; also bounds reading one body
SHUTDOWN_GRACE = 1.0               # s requests in flight get to finish when the server closes
LISTEN_BACKLOG = 128
PEERCRED = struct.Struct("3i")     # struct ucred: pid, uid, gid

log = logging.getLogger("hostd.api")


class SocketInUse(Exception):
    pass


def peer_pid(request: web.BaseRequest) -> int | None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    try:
        return PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size))[0]
    except (OSError, AttributeError):
        return None


def bind_private_unix(path: str) -> socket.socket:
    """A listening Unix socket at `path`, mode 0600 from creation on. A socket file nobody listens on (left by a
    killed daemon) is replaced; a live one or any other kind of file is refused with SocketInUse."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise SocketInUse(f"API path {path} exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            raise SocketInUse(f"API socket {path} is in use by a running daemon")
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)                                    # stale: nobody accepts on it
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~SOCKET_MODE)
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    os.chmod(path, SOCKET_MODE)
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def error_response(status: int, error: str, reason: str, close: bool = False) -> web.Response:
    resp = web.json_response({"error": error, "reason": reason}, status=status)
    if close:
        resp.force_close()
    return resp


def protocol_error(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, code, reason) for a request aiohttp could not parse."""
    if isinstance(exc, LineTooLong):
        return 431, "header_too_large", f"a request header line exceeds {MAX_HEADER_LINE} bytes"
    message = getattr(exc, "message", "") or ""
    if message == "Too many headers received":
        return 431, "header_too_large", f"more than {MAX_HEADERS} header lines"
    first = message.splitlines()[0].rstrip(":") if message else type(exc).__name__
    if isinstance(exc, (BadHttpMethod, BadStatusLine)):
        return 400, "bad_request", f"malformed request line: {first}"
    return 400, "bad_request", f"malformed request: {first}"


class _RequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering its parse errors in the API's JSON format."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if isinstance(exc, HttpProcessingError):
            status, error, reason = protocol_error(exc)
        else:                                            # the handler died (a bug) or the peer went away
            log.debug("request failed: %r", exc)
            error, reason = "internal", f"{type(exc).__name__}: {exc}" if exc else "internal error"
        return error_response(status, error, reason, close=True)


class ApiServer:
    """One aiohttp application served on one private Unix socket."""

    def __init__(self, app: web.Application, path: str):
        self.app, self.path = app, path
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None

    async def start(self) -> None:
        sock = bind_private_unix(self.path)
        self._inode = os.stat(self.path).st_ino
        self._runner = web.AppRunner(self.app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE)
        await self._runner.setup()
        loop, manager = asyncio.get_running_loop(), self._runner.server
        options = dict(keepalive_timeout=IDLE_TIMEOUT, max_line_size=MAX_HEADER_LINE, max_field_size=MAX_HEADER_LINE,
                       max_headers=MAX_HEADERS, access_log=None, tcp_keepalive=False)
        self._server = await loop.create_unix_server(lambda: _RequestHandler(manager, loop=loop, **options),
                                                     sock=sock)

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting, let requests in flight finish (SHUTDOWN_GRACE), remove the socket if it is still ours."""
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
        try:
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
