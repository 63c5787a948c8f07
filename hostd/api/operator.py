"""The operator capability: a random token in a 0600 file next to the API socket, created at daemon start.

Operations that affect every client (POST /v1/reset) need `Authorization: Bearer TOKEN`; a plain client gets 403.
The file is created with mode 0600 from the first byte (O_EXCL on a fresh name, then renamed into place), so only
the daemon's user can read it; `tessera ctl --operator ...` (hostd.client.Client(operator=True)) reads it.

Usage:
    path = operator_token_path("/run/user/1000/tessera-hostd.sock")   # .../tessera-hostd.operator-token
    token = create_token(path)         # at daemon start; remove_token(path) at stop
    read_token(path)                   # in a client
"""

from __future__ import annotations

import os
import secrets
import stat

TOKEN_BYTES = 32
TOKEN_MODE = 0o600
TOKEN_SUFFIX = ".operator-token"


class TokenError(Exception):
    pass


def operator_token_path(api_path: str) -> str:
    return os.path.splitext(api_path)[0] + TOKEN_SUFFIX


def create_token(path: str) -> str:
    """A new token written to `path` (mode 0600); an older token file there is replaced, anything else refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise TokenError(f"operator token path {path} exists and is not a regular file; remove it or choose "
                         "another --api path")
    token = secrets.token_hex(TOKEN_BYTES)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, TOKEN_MODE)
    try:
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def read_token(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError as exc:
        raise TokenError(f"cannot read the operator token {path}: {exc.strerror} (is the daemon running, "
                         "as this user?)") from exc


def remove_token(path: str, token: str) -> None:
    """Remove the token file if it still holds `token` (a newer daemon's file stays)."""
    try:
        with open(path, encoding="ascii") as f:
            if f.read().strip() != token:
                return
        os.unlink(path)
    except OSError:
        pass
