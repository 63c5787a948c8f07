"""Firmware runtime: the types and intrinsics constrained-Python firmware imports.

Under CPython (hosted mode) the types are checked markers and the intrinsics go
through a PORT that the emulator's hosted backend installs; the toolchain's
hosted transform (`firmware.toolchain.hosted.load_module`) rewrites the firmware's
arithmetic, stores and indexing into the checked helpers at the bottom of this
file, so both modes share one integer semantics (docs/firmware-language.md). In
compiled mode the C emitter maps every name here to C.

Usage (firmware side):
    from firmware.rt import u8, u32, array, const, mmio_read, mmio_write, panic
    from firmware.regs import UART
    N = const(16)
    buf = array(u8, N)
    def main() -> None:
        mmio_write(UART.DATA, buf[0])

Port contract (implemented by emulator/, installed with `install_port(port)`):
    port.read32(addr) -> int ; port.write32(addr, value)      MMIO is 32-bit
    port.read8/read16(addr) -> int ; port.write8/write16(addr, value)   SRAM/DRAM
    port.wfi() -> None         fast-forward virtual time until an interrupt is
                               pending (delivering it first when enabled)
    port.set_mstatus_mie(on: bool) ; port.set_mie(mask)   MIE_MSIE/MTIE/MEIE bits
    port.critical_enter() -> bool   clear mstatus.MIE, return whether it was set
    port.critical_exit(was_on)      restore mstatus.MIE (delivering a pending interrupt)
    port.backedge(n)           n loop iterations ran (a loop back-edge, batched):
                               advance virtual time, deliver a pending interrupt,
                               stop at the cycle limit or on a signal
    port.set_trap_handler(fn)  fn(mcause: int): the firmware's single trap handler
    port.panic(code)           records the panic and raises (does not return)
    Interrupts are delivered by the port at the next port call or loop back-edge
    when pending and enabled: it calls the trap handler with mcause (bit 31 set), with MIE cleared
    for the handler's duration, exactly as the core does.
    A write32 to SYSCTL.POWEROFF carrying SYSCTL_POWEROFF_KEY must not return
    (the port stops the session with that exit code).
    Entry point: the firmware module's main().

Panic protocol (identical in both modes, observable as MMIO writes):
    SYSCTL.SCRATCH0 <- code, SYSCTL.SCRATCH1 <- compact location id (1, 2, ...
    per check site; 0 = no location), then the panic hook (default: power off
    with exit code PANIC_EXIT_CODE). The build's location table decodes the id
    (BuildResult.locations, the image's .tsr_locations section, `tessera fw where`).
"""

from __future__ import annotations

import builtins

from asic_model.soc_map import CONSTANTS, MEMORY, SYSCTL
from firmware import regs as _regs

# ---------------------------------------------------------------- named values
PANIC_EXIT_CODE = 0xEE          # SYSCTL.POWEROFF.CODE written by the default panic hook
PANIC_OVERFLOW = 0xE001         # an arithmetic result does not fit its type
PANIC_BOUNDS = 0xE002           # array index or memory address out of range
PANIC_DIV_ZERO = 0xE003         # division or modulo by zero
PANIC_SHIFT = 0xE004            # shift count negative or >= the type's width
PANIC_CONVERSION = 0xE005       # a value stored into a narrower type does not fit
PANIC_UNHANDLED_TRAP = 0xE006   # a trap arrived and the firmware declares no handler
PANIC_ALIGN = 0xE007            # misaligned memory access
MIE_MSIE = 1 << 3               # mie: machine software interrupt enable
MIE_MTIE = 1 << 7               # mie: machine timer interrupt enable
MIE_MEIE = 1 << 11              # mie: machine external interrupt enable
_POWEROFF_KEY = CONSTANTS["SYSCTL_POWEROFF_KEY"].value
_POWEROFF_KEY_SHIFT = SYSCTL.reg("POWEROFF").field("KEY").lo
# firmware may touch only these regions through mem_read*/mem_write*: SRAM and DRAM with their real sizes
DATA_WINDOWS = tuple(_regs.MEMORY_REGIONS[name] for name in ("SRAM", "DRAM"))
MMIO_WINDOW = next((r.base, r.max_size) for r in MEMORY if r.name == "MMIO")


class FirmwarePanic(Exception):
    """Raised when a panic reaches no port (plain CPython use, or a port.panic that returned)."""

    def __init__(self, code: int, loc: int = 0):
        where = _locations.get(loc, "no location") if loc else "no location"
        super().__init__(f"firmware panic code 0x{code:x} at location id {loc} ({where})")
        self.code, self.loc = code, loc


# ---------------------------------------------------------------- types
class IntType:
    """A fixed-width integer type: u8..u32, i8..i32. `T(x)` is a checked conversion."""

    def __init__(self, name: str, bits: int, signed: bool):
        self.name, self.bits, self.signed = name, bits, signed
        self.min = -(1 << (bits - 1)) if signed else 0
        self.max = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def contains(self, other: "IntType") -> bool:
        return self.min <= other.min and other.max <= self.max

    def fits(self, v: int) -> bool:
        return self.min <= v <= self.max

    def wrap(self, v: int) -> int:
        v &= (1 << self.bits) - 1
        return v - (1 << self.bits) if self.signed and v > self.max else v

    def __call__(self, v, _loc: int = 0) -> int:
        v = int(v)
        if not self.fits(v):
            panic(PANIC_CONVERSION, _loc)
        return v

    def __repr__(self) -> str:
        return self.name


u8, u16, u32 = IntType("u8", 8, False), IntType("u16", 16, False), IntType("u32", 32, False)
i8, i16, i32 = IntType("i8", 8, True), IntType("i16", 16, True), IntType("i32", 32, True)
INT_TYPES = {t.name: t for t in (u8, u16, u32, i8, i16, i32)}
bool = builtins.bool  # noqa: A001  (the firmware's bool is Python's)


def const(x):
    """Marks a compile-time constant; the identity under CPython."""
    return x


def atomic(ty):
    """`count: atomic(u32) = 0`, a record field `head: atomic(u32)` or `array(atomic(u8), N)`: a place
    shared with the trap handler that is read and written by single accesses (the type itself here)."""
    return ty


def unroll(*args):
    """`for i in unroll(4):` loops unrolled at compile time; a plain range under CPython."""
    return range(*args)


class Array:
    """A fixed-size array of one integer type, bounds- and range-checked."""

    __slots__ = ("elem", "n", "_data", "readonly")

    def __init__(self, elem: IntType, n: int, init=None):
        self.elem, self.n, self.readonly = elem, n, False
        if init is None:
            self._data = [0] * n
        elif callable(init):
            self._data = [elem(init(i)) for i in range(n)]
        else:
            vals = list(init)
            if len(vals) > n:
                raise ValueError(f"array({elem}, {n}) initializer has {len(vals)} values")
            self._data = [elem(v) for v in vals] + [0] * (n - len(vals))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return self._data[_index(self, i, 0)]

    def __setitem__(self, i, v) -> None:
        self._data[_index(self, i, 0)] = _conv(v, self.elem, 0)

    def __iter__(self):
        return iter(self._data)

    def tolist(self) -> list:
        return list(self._data)


def array(elem: IntType, n: int, init=None) -> Array:
    """A module-level buffer of `n` elements of `elem`: zeros, a list of values, or init(i) per index."""
    return Array(elem, n, init)


def record(cls):
    """Class decorator: a record of typed fields (ints, bools, arrays), zero-initialized, no methods."""
    fields = dict(getattr(cls, "__annotations__", {}))

    def __init__(self):
        for name, ty in fields.items():
            object.__setattr__(self, name, Array(ty.elem, ty.n) if isinstance(ty, Array) else
                               (False if ty is builtins.bool else 0))

    def __setattr__(self, name, v):
        if name not in fields:
            raise AttributeError(f"record {cls.__name__} has no field {name!r}")
        ty = fields[name]
        object.__setattr__(self, name, _conv(v, ty, 0) if isinstance(ty, IntType) else v)

    ns = {"__slots__": tuple(fields), "__init__": __init__, "__setattr__": __setattr__,
          "__record_fields__": fields, "__doc__": cls.__doc__, "__module__": cls.__module__}
    return type(cls.__name__, (), ns)


# ---------------------------------------------------------------- port
_port = None
_trap_handler = None
_panic_hook = None
_locations: dict = {}           # location id -> "file:line:col" of the loaded program (set by load_module)


class _NoPort:
    def __getattr__(self, name):
        raise RuntimeError(f"firmware called port.{name} but no port is installed: run it under "
                           "emulator.session.Session(firmware=path, hosted=True) or call firmware.rt.install_port(port)")


def install_port(port) -> None:
    """Route the intrinsics to `port` (None uninstalls); re-registers the trap handler."""
    global _port
    _port = port
    if port is not None and _trap_handler is not None:
        port.set_trap_handler(_trap_handler)


def _p():
    return _port if _port is not None else _NoPort()


def reset_runtime() -> None:
    """Forget the installed port, trap handler and panic hook (between hosted sessions)."""
    global _port, _trap_handler, _panic_hook, _backedges_left
    _port = _trap_handler = _panic_hook = None
    _backedges_left = BACKEDGE_BATCH


# ---------------------------------------------------------------- intrinsics
def mmio_read(reg) -> int:
    return _p().read32(reg.addr)


def mmio_write(reg, value: int) -> None:
    _p().write32(reg.addr, _conv(value, u32, 0))


def field_get(field, value: int) -> int:
    """The value of `field` (a register-map field such as UART.STATUS.TX_FULL) inside `value`."""
    return (value >> field.shift) & (field.mask >> field.shift)


def field_set(field, value: int, fv: int) -> int:
    """`value` with `field` replaced by `fv` (truncated to the field's width)."""
    return (value & ~field.mask & u32.max) | ((fv << field.shift) & field.mask)


def _mem_check(addr: int, size: int, loc: int) -> int:
    if addr % size:
        panic(PANIC_ALIGN, loc)
    for base, length in DATA_WINDOWS:
        if base <= addr and addr + size <= base + length:
            return addr
    panic(PANIC_BOUNDS, loc)


def mem_read8(addr: int, _loc: int = 0) -> int:
    return _p().read8(_mem_check(addr, 1, _loc))


def mem_read16(addr: int, _loc: int = 0) -> int:
    return _p().read16(_mem_check(addr, 2, _loc))


def mem_read32(addr: int, _loc: int = 0) -> int:
    return _p().read32(_mem_check(addr, 4, _loc))


def mem_write8(addr: int, value: int, _loc: int = 0) -> None:
    _p().write8(_mem_check(addr, 1, _loc), _conv(value, u8, _loc))


def mem_write16(addr: int, value: int, _loc: int = 0) -> None:
    _p().write16(_mem_check(addr, 2, _loc), _conv(value, u16, _loc))


def mem_write32(addr: int, value: int, _loc: int = 0) -> None:
    _p().write32(_mem_check(addr, 4, _loc), _conv(value, u32, _loc))


def _mmio_check(addr: int, loc: int) -> int:
    if addr % 4:
        panic(PANIC_ALIGN, loc)
    if not MMIO_WINDOW[0] <= addr <= MMIO_WINDOW[0] + MMIO_WINDOW[1] - 4:
        panic(PANIC_BOUNDS, loc)
    return addr


def mmio_read_at(addr: int, _loc: int = 0) -> int:
    """32-bit register read at a run-time address (a validated command stream); checked against the MMIO window."""
    return _p().read32(_mmio_check(addr, _loc))


def mmio_write_at(addr: int, value: int, _loc: int = 0) -> None:
    _p().write32(_mmio_check(addr, _loc), _conv(value, u32, _loc))


def wfi() -> None:
    _p().wfi()


def interrupts_enable() -> None:
    _p().set_mstatus_mie(True)


def interrupts_disable() -> None:
    _p().set_mstatus_mie(False)


def set_interrupt_mask(mask: int) -> None:
    _p().set_mie(mask)


class critical:
    """`with critical():` masks interrupts (mstatus.MIE) for its body and restores the previous state.

    The hosted transform and the C emitter replace the statement; this class serves plain CPython use."""

    def __enter__(self):
        self._was_on = _critical_enter()

    def __exit__(self, *exc) -> None:
        _critical_exit(self._was_on)


def _critical_enter() -> bool:
    return _p().critical_enter()


def _critical_exit(was_on: bool) -> None:
    _p().critical_exit(was_on)


BACKEDGE_BATCH = 16             # loop back-edges per port.backedge() call (time advances in batches)
_backedges_left = BACKEDGE_BATCH


def _backedge() -> None:
    """A loop iteration (inserted by the hosted transform): every BACKEDGE_BATCH of them reach the port,
    which advances virtual time and delivers interrupts, so a loop that waits for a flag set by the
    trap handler terminates hosted as it does compiled. Without a port (build-time tables) it does nothing."""
    global _backedges_left
    _backedges_left -= 1
    if _backedges_left <= 0:
        _backedges_left = BACKEDGE_BATCH
        if _port is not None:
            _port.backedge(BACKEDGE_BATCH)


def trap_handler(fn):
    """Decorator: `fn(mcause: u32) -> None` is the firmware's single trap handler."""
    global _trap_handler
    _trap_handler = fn
    if _port is not None:
        _port.set_trap_handler(fn)
    return fn


def panic_hook(fn):
    """Decorator: `fn(code: u32, loc: u32) -> None` replaces the default power-off after a panic."""
    global _panic_hook
    _panic_hook = fn
    return fn


def poweroff(code: int) -> None:
    """Power the SoC off; the session exits with `code` (0..255)."""
    key_word = (_POWEROFF_KEY << _POWEROFF_KEY_SHIFT) | (code & SYSCTL.reg("POWEROFF").field("CODE").mask)
    _p().write32(SYSCTL.addr("POWEROFF"), key_word)
    raise FirmwarePanic(code)  # the port's write must not return; reaching here is a port bug


def build_id() -> int:
    """The program's build id (u32): the first 32 bits of the SHA-256 of its modules' sources, the
    `source_sha256` of the image's .build_info record. The checker substitutes it as a compile-time
    constant inside functions (both modes); a plain CPython call has no program and returns 0."""
    return 0


def panic(code: int, _loc: int = 0) -> None:
    """Record `code` and the location id in SYSCTL.SCRATCH0/1, then run the panic hook."""
    port = _p()
    port.write32(SYSCTL.addr("SCRATCH0"), code & u32.max)
    port.write32(SYSCTL.addr("SCRATCH1"), _loc)
    if _panic_hook is not None:
        _panic_hook(code & u32.max, _loc)
        port.panic(code)
    else:
        poweroff(PANIC_EXIT_CODE)
    raise FirmwarePanic(code, _loc)


# ---------------------------------------------------------------- checked helpers (hosted transform)
def _conv(v, ty, loc: int):
    """Store `v` into type `ty` (IntType or bool): panics with PANIC_CONVERSION when it does not fit."""
    if isinstance(ty, IntType):
        v = int(v)
        if not ty.min <= v <= ty.max:
            panic(PANIC_CONVERSION, loc)
    return v


def _ck(v: int, ty: IntType, loc: int) -> int:
    if not ty.min <= v <= ty.max:
        panic(PANIC_OVERFLOW, loc)
    return v


def _index(arr: Array, i, loc: int) -> int:
    if not 0 <= i < arr.n:
        panic(PANIC_BOUNDS, loc)
    return i


def _ld(arr: Array, i, loc: int) -> int:
    if not 0 <= i < arr.n:
        panic(PANIC_BOUNDS, loc)
    return arr._data[i]


def _st(arr: Array, i, v, loc_i: int, loc_v: int) -> None:
    if not 0 <= i < arr.n:
        panic(PANIC_BOUNDS, loc_i)
    arr._data[i] = _conv(v, arr.elem, loc_v)


def _div(a: int, b: int, ty: IntType, loc: int) -> int:
    if b == 0:
        panic(PANIC_DIV_ZERO, loc)
    return _ck(a // b, ty, loc)


def _mod(a: int, b: int, ty: IntType, loc: int) -> int:
    if b == 0:
        panic(PANIC_DIV_ZERO, loc)
    return a % b


def _shift_count(n: int, ty: IntType, loc: int) -> int:
    if not 0 <= n < ty.bits:
        panic(PANIC_SHIFT, loc)
    return n


def _shl(a: int, n: int, ty: IntType, loc: int) -> int:
    return _ck(a << _shift_count(n, ty, loc), ty, loc)


def _shr(a: int, n: int, ty: IntType, loc: int) -> int:
    return a >> _shift_count(n, ty, loc)


def _invert(a: int, ty: IntType) -> int:
    return a ^ ty.max if not ty.signed else ~a


def wrapping_add(a: int, b: int, ty: IntType = u32) -> int:
    return ty.wrap(a + b)


def wrapping_sub(a: int, b: int, ty: IntType = u32) -> int:
    return ty.wrap(a - b)


def wrapping_mul(a: int, b: int, ty: IntType = u32) -> int:
    return ty.wrap(a * b)


def wrapping_neg(a: int, ty: IntType = u32) -> int:
    return ty.wrap(-a)


def wrapping_shl(a: int, n: int, ty: IntType = u32, loc: int = 0) -> int:
    return ty.wrap(a << _shift_count(n, ty, loc))


def wrap(ty: IntType, v: int) -> int:
    """`v` truncated to `ty` (two's complement): the explicit narrowing conversion."""
    return ty.wrap(v)
