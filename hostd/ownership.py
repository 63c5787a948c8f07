"""One owner per resource: lock files held for a process's life, the holder of a locked file, private directories,
and Unix socket paths that are claimed without ever replacing a live socket or a regular file.

A daemon holds an exclusive `flock` on `<journal>.lock` and `<api socket>.lock` for as long as it runs (the kernel
drops it when the process dies, even by kill -9), so a second daemon on the same journal or socket refuses to start
with one line that names the holder. The serial port itself is locked by hostd/link.py (pyserial's
`exclusive=True`: flock on the tty); `holder_of(path)` names whoever holds any flock on a file, from /proc/locks.
Default paths live in a per-user directory (`$XDG_RUNTIME_DIR`, else `/tmp/tessera-$UID` created mode 0700).

Usage:
    lock = LockFile("/run/user/1000/hostd.db.lock", what="journal /run/user/1000/hostd.db", hint="use another --db")
    lock.acquire()           # OwnershipError: "journal ... is in use by pid 4242 (tessera hostd ...); use another --db"
    check_private_dir("/run/user/1000"); claim_socket_path("/run/user/1000/hostd.sock"); lock.release()
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import struct

RUNTIME_DIR_ENV = "XDG_RUNTIME_DIR"
PRIVATE_DIR_MODE = 0o700
PROC_LOCKS = "/proc/locks"
CMDLINE_SHOWN = 80             # characters of a holder's command line in an error
SOCKET_PROBE_TIMEOUT = 1.0     # seconds to wait for a live socket to accept a probe connection


class OwnershipError(Exception):
    """Another process owns the resource, or a path is unsafe to use; the message is one line that says what to do."""


def user_runtime_dir() -> str:
    """Where default sockets and journals live: $XDG_RUNTIME_DIR, else /tmp/tessera-$UID (never shared /tmp)."""
    return os.environ.get(RUNTIME_DIR_ENV) or f"/tmp/tessera-{os.getuid()}"


def ensure_private_dir(path: str) -> None:
    """Create `path` mode 0700 if missing, then `check_private_dir` it."""
    try:
        os.mkdir(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        pass
    check_private_dir(path)


def check_private_dir(path: str) -> None:
    """Refuse a directory that is missing, not ours (nor root's), or writable by others without the sticky bit."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise OwnershipError(f"directory {path} does not exist; create it (mode 0700) or choose another path") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OwnershipError(f"{path} is not a directory")
    if st.st_uid not in (os.getuid(), 0):
        raise OwnershipError(f"directory {path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
                             "choose a directory of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
        raise OwnershipError(f"directory {path} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}) and not "
                             "sticky; choose a private directory")


def holder_of(path: str) -> str:
    """'pid N (command line)' of a process holding a lock on the file at `path` (from /proc/locks), or 'another
    process' when the kernel does not say."""
    try:
        st = os.stat(path)
        with open(PROC_LOCKS) as f:
            lines = f.read().splitlines()
    except OSError:
        return "another process"
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        fields = line.split()
        if "->" in fields:                               # a waiter, not the holder
            continue
        if len(fields) >= 6 and fields[5] == dev and fields[4].isdigit():
            return describe_pid(int(fields[4]))
    return "another process"


def describe_pid(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    if len(cmd) > CMDLINE_SHOWN:
        cmd = cmd[:CMDLINE_SHOWN - 3] + "..."
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


class LockFile:
    """An exclusive flock on a sidecar file (mode 0600, holding the owner's pid), held until release or death."""

    def __init__(self, path: str, what: str, hint: str):
        self.path, self.what, self.hint = path, what, hint
        self._fd: int | None = None

    def acquire(self) -> "LockFile":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OwnershipError(f"{self.what} is in use by {holder_of(self.path)}; {self.hint}") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)                           # closing drops the flock; the file stays (harmless)
            self._fd = None


def claim_socket_path(path: str, option: str = "--api") -> None:
    """Make `path` free for a new listening socket: absent is fine, a dead socket left by a killed process is
    removed, a live socket (something accepts on it) or anything that is not a socket is refused, never replaced."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OwnershipError(f"{option} {path} exists and is not a socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(SOCKET_PROBE_TIMEOUT)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)                                  # nobody listens: a leftover of a killed daemon
        return
    except OSError as exc:
        raise OwnershipError(f"{option} {path} cannot be probed ({exc.strerror}); refusing to replace it") from None
    else:
        raise OwnershipError(f"{option} {path} is a live socket ({_peer(probe)} accepts on it); stop that process "
                             "or choose another path")
    finally:
        probe.close()


def _peer(sock: socket.socket) -> str:
    try:
        pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
    except OSError:
        return "another process"
    return describe_pid(pid)
