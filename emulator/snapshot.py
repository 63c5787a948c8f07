"""Session snapshots: the whole state of a running Unicorn session to a file, and back, bit-exactly.

What is saved: the CPU (x1..x31, pc, the machine CSRs, the WFI flag), every
memory (FLASH, RAM, SRAM, DRAM, as their non-zero 4 KiB pages), and the state of
every object of the SoC (devices, UART FIFOs and line timing, timer, INTC, WDT,
SYSCTL, the accelerator with DMA transfers and tensor-core operations in
flight, its counters and pending faults, virtual time and the accelerator's
clock domain), the trace recorded so far and the UART output produced so far.
Pending events need no list of their own: every device computes its next event
from its state.

How: when a session is built, `StateRegistry` walks its object graph (from the
SoC and the trace recorder) and names every object by its attribute path; the
session is rebuilt the same way in any process from the same firmware and
machine, so the names match. A snapshot stores, per named object, its data
attributes (wiring, i.e. callbacks and callables, is left out: the rebuilt
session has the same wiring); references to named objects are stored as names
(pickle persistent ids), objects created later (a DMA segment in flight) by
value. Restoring writes the state into the rebuilt session's objects in place
(memories are copied into the very buffers Unicorn maps), so the continued run
is the run that was never interrupted. Not saved: the serial endpoint's state
(line-fault generator, TCP client), the `ecc next read` one-shot of the control
socket, host-side statistics. A snapshot is a pickle: restore only files you trust.

Snapshots are taken between two execution slices (the control socket's
`{"snapshot": PATH}` runs there; `Session.run()` has returned otherwise).

Usage:
    from emulator.snapshot import save, restore
    info = save(session, "mid.tsnap")        # {"path", "bytes", "cycles", "seconds"}
    s2 = Session(firmware=same_elf); restore(s2, "mid.tsnap"); s2.run(...)
    tessera emu run --firmware fw.elf --restore mid.tsnap
"""

from __future__ import annotations

import functools
import hashlib
import io
import pickle
import time
from pathlib import Path

import numpy as np

MAGIC = b"TESSERA-SNAPSHOT-1\n"
PAGE = 4096                      # memories are stored as their non-zero pages of this size
SPARSE_MIN_BYTES = 64 * 1024     # arrays at least this big are stored sparsely
SCAN_DEPTH = 3                   # how deep a container is searched for callables (wiring)
_VALUE_TYPES = (int, float, str, bytes, bool, type(None))


class SnapshotError(ValueError):
    """A snapshot cannot be taken or does not fit this session; the message says why."""


# ------------------------------------------------------------ the object registry
def _is_walkable(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.split(".")[0] in ("emulator", "asic_model") and (hasattr(obj, "__dict__") or _slots(type(obj)))


@functools.lru_cache(maxsize=None)
def _slots(cls) -> tuple[str, ...]:
    out: list[str] = []
    for c in cls.__mro__:
        s = c.__dict__.get("__slots__", ())
        out.extend((s,) if isinstance(s, str) else s)
    return tuple(n for n in out if n not in ("__dict__", "__weakref__"))


def _attrs(obj) -> dict:
    d = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    for name in _slots(type(obj)):
        if hasattr(obj, name):
            d[name] = getattr(obj, name)
    return d


def _is_wiring(value, depth: int = SCAN_DEPTH) -> bool:
    """Callables, and containers holding callables: the session's wiring, rebuilt with it, never saved."""
    if callable(value) and not isinstance(value, type):
        return True
    if depth == 0 or isinstance(value, (np.ndarray,) + _VALUE_TYPES):
        return False
    if isinstance(value, dict):
        return any(_is_wiring(v, depth - 1) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_is_wiring(v, depth - 1) for v in value)
    return False


class StateRegistry:
    """Every object reachable from the roots at construction, by attribute path (same paths in any process)."""

    def __init__(self, roots: dict[str, object]):
        self.by_path: dict[str, object] = {}
        self.path_of: dict[int, str] = {}
        queue = [(name, obj) for name, obj in roots.items() if obj is not None]
        while queue:   # breadth first, in attribute order: deterministic paths
            path, obj = queue.pop(0)
            if id(obj) in self.path_of:
                continue
            self.by_path[path] = obj
            self.path_of[id(obj)] = path
            for name, value in sorted(_attrs(obj).items()):
                if not _is_wiring(value):
                    queue.extend(self._children(f"{path}.{name}", value))

    @staticmethod
    def _children(path: str, value) -> list:
        if _is_walkable(value):
            return [(path, value)]
        if isinstance(value, dict):
            out = []
            for k in sorted(value, key=repr):
                out.extend(StateRegistry._children(f"{path}[{k!r}]", value[k]))
            return out
        if isinstance(value, (list, tuple)):
            out = []
            for i, v in enumerate(value):
                out.extend(StateRegistry._children(f"{path}[{i}]", v))
            return out
        return []


class _Pickler(pickle.Pickler):
    def __init__(self, f, registry: StateRegistry, top: object):
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self.registry, self.top = registry, top

    def persistent_id(self, obj):
        if obj is not self.top and not isinstance(obj, _VALUE_TYPES):
            path = self.registry.path_of.get(id(obj))
            if path is not None:
                return path
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, registry: StateRegistry):
        super().__init__(f)
        self.registry = registry

    def persistent_load(self, pid):
        try:
            return self.registry.by_path[pid]
        except KeyError:
            raise SnapshotError(f"the snapshot refers to {pid}, which this session does not have "
                                "(another machine or emulator version)") from None


def _sparse(arr: np.ndarray) -> tuple:
    pages = arr.size // PAGE
    body = arr[:pages * PAGE].reshape(pages, PAGE)
    nz = np.flatnonzero(body.any(axis=1))
    return ("sparse", arr.dtype.str, arr.size, nz.astype(np.int64).tobytes(), body[nz].tobytes(), arr[pages * PAGE:].tobytes())


def _unsparse(into: np.ndarray, packed: tuple) -> None:
    _, dtype, size, idx, data, tail = packed
    if into.dtype.str != dtype or into.size != size:
        raise SnapshotError(f"a memory of {size} bytes in the snapshot, {into.size} in this session")
    pages = size // PAGE
    body = into[:pages * PAGE].reshape(pages, PAGE)
    body[body.any(axis=1)] = 0      # only pages holding data now: untouched zero pages stay unmapped (fast)
    nz = np.frombuffer(idx, np.int64)
    body[nz] = np.frombuffer(data, into.dtype).reshape(len(nz), PAGE)
    into[pages * PAGE:] = np.frombuffer(tail, into.dtype)


# ------------------------------------------------------------ the session
def _check_backend(session) -> None:
    from emulator.unicorn_core import UnicornCore
    if not isinstance(session.core, UnicornCore):
        raise SnapshotError("snapshots need ELF firmware on the Unicorn core (hosted firmware state lives in Python frames)")


def registry(session) -> StateRegistry:
    reg = getattr(session, "_state_registry", None)
    if reg is None:
        raise SnapshotError("this session was built without a state registry")
    return reg


def identity(session) -> dict:
    """What a snapshot must agree with: the firmware image and the machine."""
    m = session.machine
    return {"firmware_sha256": hashlib.sha256(Path(session.core.image.path).read_bytes()).hexdigest(),
            "machine": {"regions": dict(m.regions), "profile": str(m.profile), "core_clock_hz": m.core_clock_hz,
                        "mmio_windows": list(m.mmio_windows)}}


def capture(session) -> bytes:
    """The session's whole state as bytes (see the module docstring)."""
    _check_backend(session)
    reg = registry(session)
    objects = {}
    for path, obj in reg.by_path.items():
        state = {}
        for name, value in _attrs(obj).items():
            if _is_wiring(value):
                continue
            if isinstance(value, np.ndarray) and value.size >= SPARSE_MIN_BYTES:
                value = _sparse(value)
            state[name] = value
        objects[path] = state
    core = session.core
    doc = {"identity": identity(session), "cycles": session.soc.clock.now, "cpu": core.cpu_state(),
           "objects": objects, "uart_output": bytes(session._out)}
    buf = io.BytesIO()
    buf.write(MAGIC)
    _Pickler(buf, reg, None).dump(doc)
    return buf.getvalue()


def apply(session, data: bytes, where: str = "snapshot") -> None:
    """Write a captured state into `session` (built from the same firmware and machine), in place."""
    _check_backend(session)
    if not data.startswith(MAGIC):
        raise SnapshotError(f"{where}: not a Tessera snapshot (expected it to start with {MAGIC!r})")
    reg = registry(session)
    try:
        doc = _Unpickler(io.BytesIO(data[len(MAGIC):]), reg).load()
    except SnapshotError as exc:
        raise SnapshotError(f"{where}: {exc}") from None
    except Exception as exc:
        raise SnapshotError(f"{where}: unreadable snapshot: {type(exc).__name__}: {exc}") from None
    mine = identity(session)
    if doc["identity"]["firmware_sha256"] != mine["firmware_sha256"]:
        raise SnapshotError(f"{where}: taken with another firmware image (sha256 {doc['identity']['firmware_sha256'][:12]}, "
                            f"this session runs {mine['firmware_sha256'][:12]})")
    if doc["identity"]["machine"] != mine["machine"]:
        raise SnapshotError(f"{where}: taken on another machine ({doc['identity']['machine']}), "
                            f"this session has {mine['machine']}")
    for path, state in doc["objects"].items():
        obj = reg.by_path.get(path)
        if obj is None:
            raise SnapshotError(f"{where}: the snapshot has {path}, which this session does not have")
        for name, value in state.items():
            if isinstance(value, tuple) and value[:1] == ("sparse",):
                _unsparse(getattr(obj, name), value)
            elif isinstance(value, np.ndarray) and isinstance(getattr(obj, name, None), np.ndarray) \
                    and getattr(obj, name).shape == value.shape:
                np.copyto(getattr(obj, name), value)
            elif hasattr(obj, "__dict__") and name not in _slots(type(obj)):
                obj.__dict__[name] = value
            else:
                object.__setattr__(obj, name, value)
    session._out[:] = doc["uart_output"]
    session._sent = max(session._sent, len(session._out))  # the host has seen everything before the snapshot
    session.core.set_cpu_state(doc["cpu"])


def save(session, path: str | Path) -> dict:
    t0 = time.perf_counter()
    data = capture(session)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot write the snapshot: {exc.strerror}") from None
    return {"path": str(path), "bytes": len(data), "cycles": session.soc.clock.now,
            "seconds": round(time.perf_counter() - t0, 6)}


def restore(session, path: str | Path) -> dict:
    t0 = time.perf_counter()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot: {exc.strerror}") from None
    apply(session, data, str(path))
    return {"path": str(path), "bytes": len(data), "cycles": session.soc.clock.now,
            "seconds": round(time.perf_counter() - t0, 6)}
