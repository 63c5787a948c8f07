"""Exact instruction counting for Unicorn: a tiny C code hook, built at install time by cffi.

Unicorn's own `emu_start(count=N)` stops after N instructions but never says
how many ran when the core stops earlier (WFI, a fault, an MMIO write that
raised an interrupt). This hook does the same job (one C call per instruction,
the same cost as `count=`; measured in emulator/bench.py) and exposes the
counter, so virtual time is exact at every MMIO access and at every stop, and
the slice limit can be lowered from inside an MMIO callback. It also stops the
core right after any instruction marked in a per-halfword bitmap of FLASH (the
emulator marks csr writes to mstatus/mie, after which a pending interrupt may
become deliverable), while `s.pending` (the SoC's mip) is non-zero. At the mret
sites marked in a second bitmap it performs mret as a hart without U-mode does
(MIE <- MPIE, MPIE <- 1, MPP stays M, PC <- mepc; Unicorn's own sets MPP to U),
counted as one instruction, and stops right at mepc if an interrupt is pending.
No library offers this; it is ~35 lines of C in emulator/build_icount.py,
compiled by `pip install` (cffi API mode), never at run time.

Usage:
    ic = ICounter(uc, watch_base=0, watch_size=flash_size)
    ic.start(limit); uc.emu_start(pc, END); ic.executed(); ic.stopped_by_limit()
    ic.stop_after_current()       # from inside a hook/callback
    ic.watch(addr)                # stop after the instruction at addr
    ic.emulate_mret(addr)         # the mret at addr is performed by the hook (ic.s.mrets counts them)
    hist = ic.histogram()         # from now on: instructions run per halfword of the window (numpy uint64)
"""

from __future__ import annotations

import ctypes

import numpy as np
from unicorn import riscv_const as R
from unicorn.unicorn_const import UC_HOOK_CODE
from unicorn.unicorn_py3 import unicorn as _ucmod

from emulator.cpu import MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP

class _IC(ctypes.Structure):
    _fields_ = [("count", ctypes.c_uint64), ("limit", ctypes.c_uint64), ("stop", ctypes.c_void_p),
                ("watch_base", ctypes.c_uint64), ("watch_size", ctypes.c_uint64), ("watch", ctypes.c_void_p),
                ("pending", ctypes.c_uint64), ("mret", ctypes.c_void_p), ("reg_read", ctypes.c_void_p),
                ("reg_write", ctypes.c_void_p), ("reg_mstatus", ctypes.c_int32), ("reg_mepc", ctypes.c_int32),
                ("reg_pc", ctypes.c_int32), ("mstatus_mie", ctypes.c_uint32), ("mstatus_mpie", ctypes.c_uint32),
                ("mstatus_mpp", ctypes.c_uint32), ("mrets", ctypes.c_uint64), ("hist", ctypes.c_void_p)]


def _hook_address() -> int:
    """Address of the compiled `icount_hook` (emulator/_icount, built by setup.py)."""
    from emulator._icount import ffi, lib

    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "icount_hook")))


class ICounter:
    def __init__(self, uc, watch_base: int = 0, watch_size: int = 0):
        self.bitmap = np.zeros(max(1, (watch_size + 15) // 16), dtype=np.uint8)
        self.mret_bitmap = np.zeros_like(self.bitmap)
        lib = _ucmod.uclib
        self.s = _IC(0, 0, ctypes.cast(lib.uc_emu_stop, ctypes.c_void_p).value,
                     watch_base, watch_size, self.bitmap.ctypes.data, 0, self.mret_bitmap.ctypes.data,
                     ctypes.cast(lib.uc_reg_read, ctypes.c_void_p).value,
                     ctypes.cast(lib.uc_reg_write, ctypes.c_void_p).value,
                     R.UC_RISCV_REG_MSTATUS, R.UC_RISCV_REG_MEPC, R.UC_RISCV_REG_PC,
                     MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP, 0, None)
        self.watch_base = watch_base
        self._handle = _ucmod.uc_hook_h()
        fn = ctypes.c_void_p(_hook_address())
        status = _ucmod.uclib.uc_hook_add(uc._uch, ctypes.byref(self._handle), UC_HOOK_CODE, fn,
                                          ctypes.cast(ctypes.pointer(self.s), ctypes.c_void_p), 1, 0)
        if status != 0:
            raise RuntimeError(f"uc_hook_add for the instruction counter failed with status {status}")
        self._keep = fn

    def histogram(self) -> np.ndarray:
        """Start counting instructions per halfword address of the window; the array fills as the core runs."""
        if getattr(self, "_hist", None) is None:
            self._hist = np.zeros(max(1, self.s.watch_size // 2), dtype=np.uint64)
            self.s.hist = self._hist.ctypes.data
        return self._hist

    def watch(self, addr: int) -> None:
        """Stop right after the instruction at addr while an interrupt is pending (FLASH only)."""
        self._mark(self.bitmap, addr)

    def emulate_mret(self, addr: int) -> None:
        """The mret at addr is performed by the hook (MPP stays M), counted as one instruction (FLASH only)."""
        self._mark(self.mret_bitmap, addr)

    def _mark(self, bitmap: np.ndarray, addr: int) -> None:
        off = addr - self.watch_base
        if 0 <= off < self.s.watch_size:
            bitmap[off >> 4] |= 1 << ((off >> 1) & 7)

    def start(self, limit: int) -> None:
        self.s.count = 0
        self.s.limit = limit

    def stopped_by_limit(self) -> bool:
        return self.s.count > self.s.limit

    def executed(self) -> int:
        """Instructions that completed in the current/last slice (a limit stop is counted but not run)."""
        c = self.s.count
        return c - 1 if c > self.s.limit else c

    def stop_after_current(self) -> None:
        if self.s.limit > self.s.count:
            self.s.limit = self.s.count

    def limit_to(self, n: int) -> None:
        """Stop once `n` instructions of this slice have run (never below the current one)."""
        if n < self.s.limit:
            self.s.limit = max(n, self.s.count)
