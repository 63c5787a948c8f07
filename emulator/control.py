"""Control of a running emulator session: a Unix control socket for fault injection, and seeded serial-line faults.

`attach(session, control_path, line_faults)` wraps the session's serial endpoint
in a `ControlledEndpoint`. The wrapper adds the control socket's descriptors to
the ones the session selects on while idle, and handles control commands inside
`read()`, i.e. on the emulator's own thread between two slices of execution, so
a command never races the running core. Line faults corrupt the bytes crossing
the endpoint in both directions (host -> UART and UART -> host): each byte is
dropped with probability `drop`, else has one random bit flipped with
probability `flip`, from a seeded generator (same seed + same traffic = same
faults).

Control protocol: one JSON object per line in, one JSON object per line out
(`{"ok": true, ...}` or `{"error": "..."}`); several commands per connection.

    {"inject": "ecc", "addr": 536870912}     acc.faults.ecc_error(addr)
    {"inject": "ecc"}                        the next SRAM read (DMA, descriptor or tensor core) fails with ERR_ECC
    {"inject": "dma", "channel": 0}          acc.faults.dma_channel_error(channel)
    {"inject": "hang"}                       acc.faults.tensor_hang()
    {"inject": "watchdog"}                   the watchdog expires now (core reset, cause RESET_WATCHDOG)
    {"inject": "clear"}                      acc.faults.clear()
    {"line_faults": {"flip": 0.001, "drop": 0.001, "seed": 1}}   (null: line faults off)
    {"status": true}                         cycles, resets, pending faults, line-fault counts
    {"snapshot": "/tmp/s.tsnap"}             save the whole session (emulator/snapshot.py); answers path, bytes, cycles

Usage:
    tessera emu run --firmware fw.elf --control /tmp/emu.sock --line-faults flip=1e-3,drop=1e-3,seed=7
    session.endpoint = attach(session, "/tmp/emu.sock", "flip=1e-3,drop=0,seed=7")
"""

from __future__ import annotations

import json
import os
import random
import socket
import stat

MAX_COMMAND = 4096             # bytes of one command line
LINE_FAULT_KEYS = ("flip", "drop", "seed")
BITS = 8


class ControlError(ValueError):
    """A malformed --line-faults option or control command."""


def parse_line_faults(spec: str | dict | None) -> dict | None:
    """'flip=1e-3,drop=1e-3,seed=7' (or the same as a dict) -> {"flip", "drop", "seed"}; None/'' -> None."""
    if not spec:
        return None
    if isinstance(spec, str):
        items = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ControlError(f"--line-faults {spec}: expected KEY=VALUE items (flip, drop, seed), got {part!r}")
            items[key.strip()] = value.strip()
        spec = items
    unknown = set(spec) - set(LINE_FAULT_KEYS)
    if unknown:
        raise ControlError(f"line faults: unknown key {sorted(unknown)[0]!r}; use flip, drop, seed")
    try:
        out = {"flip": float(spec.get("flip", 0)), "drop": float(spec.get("drop", 0)), "seed": int(spec.get("seed", 0))}
    except (TypeError, ValueError) as exc:
        raise ControlError(f"line faults: {exc}") from None
    for key in ("flip", "drop"):
        if not 0 <= out[key] <= 1:
            raise ControlError(f"line faults: {key}={out[key]} is not a probability in 0..1")
    return out


class LineFaults:
    """Seeded byte drops and single-bit flips, counted per direction."""

    def __init__(self, flip: float, drop: float, seed: int):
        self.flip, self.drop, self.seed = flip, drop, seed
        self.rng = random.Random(seed)
        self.counts = {d: {"bytes": 0, "flipped": 0, "dropped": 0} for d in ("rx", "tx")}

    def apply(self, data: bytes, direction: str) -> bytes:
        c = self.counts[direction]
        c["bytes"] += len(data)
        out = bytearray()
        rnd = self.rng.random
        for b in data:
            r = rnd()
            if r < self.drop:
                c["dropped"] += 1
            elif r < self.drop + self.flip:
                out.append(b ^ (1 << self.rng.randrange(BITS)))
                c["flipped"] += 1
            else:
                out.append(b)
        return bytes(out)


def ecc_next_read(faults) -> None:
    """Arm a one-shot ECC error on the first byte of the next SRAM read any unit makes (wraps this Faults instance)."""
    def take(ranges):
        for base, rows, length, _ in ranges:
            if rows > 0 and length > 0:
                del faults.take_ecc                    # disarm: back to the class method
                return base
        return type(faults).take_ecc(faults, ranges)
    faults.take_ecc = take


def _claim_socket_path(path: str) -> None:
    """Free `path` for the control socket: remove a dead socket, refuse a live one or anything not a socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlError(f"--control {path} exists and is not a socket; refusing to replace it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            os.unlink(path)                            # left by an emulator that was killed
            return
    raise ControlError(f"--control {path} is a live socket of another process; refusing to replace it")


class ControlledEndpoint:
    """A serial endpoint plus the control socket and optional line faults (see the module docstring)."""

    def __init__(self, inner, session, control_path: str | None = None, line_faults: dict | None = None):
        self.inner, self.session = inner, session
        self.kind = inner.kind
        self.faults = LineFaults(**line_faults) if line_faults else None
        self.resets_injected = 0
        self.path = control_path
        self.listener: socket.socket | None = None
        self.clients: dict[socket.socket, bytearray] = {}
        if control_path:
            _claim_socket_path(control_path)
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(control_path)
            os.chmod(control_path, 0o600)
            self.listener.listen(4)
            self.listener.setblocking(False)

    def __getattr__(self, name):                       # path, port, master... of the wrapped endpoint
        return getattr(self.inner, name)

    # ------------------------------------------------------------ endpoint API
    def read(self) -> bytes:
        self._serve_control()
        data = self.inner.read()
        return self.faults.apply(data, "rx") if data and self.faults else data

    def write(self, data: bytes) -> None:
        self.inner.write(self.faults.apply(data, "tx") if self.faults else data)

    def fds(self) -> list[int]:
        extra = [self.listener.fileno()] + [c.fileno() for c in self.clients] if self.listener else []
        return self.inner.fds() + extra

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        for c in list(self.clients):
            c.close()
        self.clients.clear()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self.inner.close()

    # ------------------------------------------------------------ control socket
    def _serve_control(self) -> None:
        if self.listener is None:
            return
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                break
            conn.setblocking(False)
            self.clients[conn] = bytearray()
        for conn in list(self.clients):
            buf = self.clients[conn]
            try:
                chunk = conn.recv(MAX_COMMAND)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                conn.close()
                del self.clients[conn]
                continue
            buf += chunk
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                self._answer(conn, self.command(line))
            if len(buf) > MAX_COMMAND:
                self._answer(conn, {"error": f"command longer than {MAX_COMMAND} bytes"})
                buf.clear()

    @staticmethod
    def _answer(conn: socket.socket, obj: dict) -> None:
        conn.setblocking(True)
        try:
            conn.sendall(json.dumps(obj).encode() + b"\n")
        except OSError:
            pass
        finally:
            conn.setblocking(False)

    def command(self, line: bytes) -> dict:
        """Execute one JSON command line; never raises (errors are answers)."""
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ControlError("a command is a JSON object")
            return dict(self._execute(cmd), ok=True)
        except (ValueError, TypeError, KeyError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}

    def _execute(self, cmd: dict) -> dict:
        soc = self.session.soc
        if "line_faults" in cmd:
            lf = parse_line_faults(cmd["line_faults"])
            self.faults = LineFaults(**lf) if lf else None
            return {"line_faults": lf}
        if cmd.get("status"):
            return self.status()
        if "snapshot" in cmd:
            from emulator.snapshot import save
            return save(self.session, str(cmd["snapshot"]))
        kind = cmd.get("inject")
        acc = soc.accel
        if kind == "watchdog":
            self.resets_injected += 1
            soc.wdt.on_expire()
            return {"injected": kind}
        if kind in ("ecc", "dma", "hang", "clear") and acc is None:
            raise ControlError("this machine has no accelerator")
        if kind == "ecc" and "addr" not in cmd:
            ecc_next_read(acc.faults)
            return {"injected": kind, "addr": "next read"}
        if kind == "ecc":
            addr = int(cmd["addr"])
            acc.faults.ecc_error(addr)
            return {"injected": kind, "addr": addr}
        if kind == "dma":
            ch = int(cmd.get("channel", 0))
            acc.faults.dma_channel_error(ch)
            return {"injected": kind, "channel": ch}
        if kind == "hang":
            acc.faults.tensor_hang()
            return {"injected": kind}
        if kind == "clear":
            acc.faults.clear()
            return {"injected": kind}
        raise ControlError(f"unknown command {json.dumps(cmd)}; use inject (ecc, dma, hang, watchdog, clear), "
                           "line_faults, snapshot or status")

    def status(self) -> dict:
        soc = self.session.soc
        acc = soc.accel
        pending = {"ecc": sorted(acc.faults.ecc), "ecc_next_read": "take_ecc" in vars(acc.faults),
                   "dma": sorted(acc.faults.dma_channels), "hang": acc.faults.hang} if acc else {}
        return {"cycles": soc.clock.now, "core_clock_hz": soc.clock.hz, "pending": pending,
                "watchdog_injected": self.resets_injected,
                "line": self.faults.counts if self.faults else None}


def add_arguments(parser) -> None:
    """The `tessera emu run` options of this module."""
    parser.add_argument("--control", help="Unix socket taking one-line JSON fault-injection commands")
    parser.add_argument("--line-faults", help="serial line faults, e.g. flip=1e-3,drop=1e-3,seed=7 (both directions)")


def attach(session, control_path: str | None = None, line_faults: str | dict | None = None):
    """Wrap `session.endpoint` when a control socket or line faults are asked for; returns the endpoint to use."""
    lf = parse_line_faults(line_faults)
    if not control_path and not lf:
        return session.endpoint
    try:
        return ControlledEndpoint(session.endpoint, session, control_path, lf)
    except OSError as exc:
        raise ControlError(f"--control {control_path}: cannot listen: {exc.strerror}") from None
