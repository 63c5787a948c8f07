"""The RV32IMC control core on Unicorn: ELF image, zero-copy memories, MMIO through the bus, traps by hand.

Memories (FLASH read/execute, RAM, SRAM, DRAM) are the SoC's numpy buffers
mapped with `mem_map_ptr`; every MMIO register window is an `mmio_map` whose
callbacks go through the SoC's single `Bus`. Virtual time is one cycle per
instruction, counted exactly by `emulator.icount` in slices that end at the
next device event; an MMIO write that schedules an earlier event or raises an
interrupt shortens the running slice.

Unicorn does not enter traps or take interrupts (see
/work/shared/unicorn-riscv-notes.md), so this module does it as the RISC-V
privileged spec says for machine mode: mepc, mcause (bit 31 for interrupts),
mtval, mstatus MPIE <- MIE, MIE <- 0, MPP <- M, PC <- mtvec base (+ 4*cause for
interrupts in vectored mode). Pending interrupts are the SoC's `mip`, checked at
every slice boundary; the core also stops right after csr writes to
mstatus/mie (found by scanning the image) so an interrupt that becomes
deliverable there is taken at once. `mret` in FLASH is performed by the
instruction hook (emulator.icount) as on a hart without U-mode (MIE <- MPIE,
MPIE <- 1, MPP stays M, PC <- mepc), and the core stops right after it while an
interrupt is pending. Unicorn's own mret sets MPP to U (#2391), so the next trap
entry's MPP <- M would make QEMU flush its whole TLB (~70 us per interrupt).
WFI makes Unicorn return; the core then sleeps and virtual time jumps to the
next device event. A synchronous
exception with mtvec unset (0), and any exception Unicorn cannot continue from,
ends the run with reason "fault", the PC, the cause and a register dump;
ebreak ends it with reason "ebreak". Misaligned loads and stores are performed
by the hardware (the RISC-V spec allows it; Unicorn does so), so they do not trap.

Usage:
    core = UnicornCore(soc, load_elf(path, machine), link)
    info = core.run(until_cycle=50_000_000)
"""

from __future__ import annotations

import ctypes

from unicorn import Uc, UcError
from unicorn import unicorn_const as UC
from unicorn import riscv_const as R
from unicorn.unicorn_py3.unicorn import MMIO_READ_CFUNC, MMIO_WRITE_CFUNC, uclib

from asic_model.soc_map import UART
from emulator.cpu import (EXIT_REASONS, INTERRUPT_BIT, MCAUSE_NAMES, MSTATUS_MIE, MSTATUS_MPIE, MSTATUS_MPP,
                          ExitInfo, HostLink, pending_interrupt)
from emulator.elf_loader import ElfImage
from emulator.icount import ICounter
from emulator.machine import ACCELERATOR_BLOCKS, mmio_span
from emulator.soc import Soc

UART_DATA_OFFSET = UART.reg("DATA").offset

SLICE_MAX = 1_000_000          # longest run between host polls (10 ms of virtual time at 100 MHz)
UNTIL_NEVER = 0xFFFF_FFFF      # an odd address the PC can never reach
INSN_WFI = 0x1050_0073
INSN_EBREAK, INSN_C_EBREAK = 0x0010_0073, 0x9002
INSN_MRET = 0x3020_0073
CSR_MSTATUS, CSR_MIE = 0x300, 0x304
OPCODE_SYSTEM = 0x73
CAUSE_ILLEGAL, CAUSE_ECALL_U, CAUSE_ECALL_M = 2, 8, 11
CAUSE_FETCH_FAULT, CAUSE_LOAD_FAULT, CAUSE_STORE_FAULT = 1, 5, 7
_MEM_ERRORS = {
    UC.UC_ERR_READ_UNMAPPED: CAUSE_LOAD_FAULT, UC.UC_ERR_READ_PROT: CAUSE_LOAD_FAULT,
    UC.UC_ERR_WRITE_UNMAPPED: CAUSE_STORE_FAULT, UC.UC_ERR_WRITE_PROT: CAUSE_STORE_FAULT,
    UC.UC_ERR_FETCH_UNMAPPED: CAUSE_FETCH_FAULT, UC.UC_ERR_FETCH_PROT: CAUSE_FETCH_FAULT,
}
_PERMS = {"FLASH": UC.UC_PROT_READ | UC.UC_PROT_EXEC, "RAM": UC.UC_PROT_ALL,
          "SRAM": UC.UC_PROT_READ | UC.UC_PROT_WRITE, "DRAM": UC.UC_PROT_READ | UC.UC_PROT_WRITE}
ABI_NAMES = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6").split()
_CSRS = {"mstatus": R.UC_RISCV_REG_MSTATUS, "mie": R.UC_RISCV_REG_MIE, "mtvec": R.UC_RISCV_REG_MTVEC,
         "mepc": R.UC_RISCV_REG_MEPC, "mcause": R.UC_RISCV_REG_MCAUSE, "mtval": R.UC_RISCV_REG_MTVAL,
         "mscratch": R.UC_RISCV_REG_MSCRATCH}


class UnicornCore:
    name = "unicorn"

    def __init__(self, soc: Soc, image: ElfImage, link: HostLink):
        self.soc, self.image, self.link = soc, image, link
        self.uc = uc = Uc(UC.UC_ARCH_RISCV, UC.UC_MODE_RISCV32)
        for name, mem in soc.memories.items():
            base = soc.machine.regions[name][0]
            uc.mem_map_ptr(base, mem.size, _PERMS[name], mem.buf.ctypes.data)
        fbase, fsize = soc.machine.regions["FLASH"]
        self.ic = ICounter(uc, fbase, fsize)
        self.flash_range = (fbase, fbase + fsize)
        self.wfi_resume: set[int] = set()   # addresses right after a WFI in the image
        self.slice_base = 0
        self._reg = ctypes.c_uint32()
        self._reg_ref = ctypes.byref(self._reg)
        self._cb_error: BaseException | None = None
        self._symbols = None
        # batched CSR access for interrupt checks and trap entry (one C call instead of one per register)
        self._csr_ids = (ctypes.c_int * 3)(R.UC_RISCV_REG_MIE, R.UC_RISCV_REG_MSTATUS, R.UC_RISCV_REG_MTVEC)
        self._csr_vals = (ctypes.c_uint32 * 3)()
        self._csr_ptrs = (ctypes.c_void_p * 3)(*(ctypes.addressof(self._csr_vals) + 4 * i for i in range(3)))
        self._trap_ids = (ctypes.c_int * 4)(R.UC_RISCV_REG_MSTATUS, R.UC_RISCV_REG_MEPC, R.UC_RISCV_REG_MCAUSE,
                                            R.UC_RISCV_REG_MTVAL)
        self._trap_vals = (ctypes.c_uint32 * 4)()
        self._trap_ptrs = (ctypes.c_void_p * 4)(*(ctypes.addressof(self._trap_vals) + 4 * i for i in range(4)))
        self._mmio_keep = []
        for _, base, size in mmio_span(soc.machine):
            self._map_window(base, size)
        uc.hook_add(UC.UC_HOOK_INTR, self._on_exception)
        uc.hook_add(UC.UC_HOOK_MEM_INVALID, self._on_bad_access)
        soc.request_stop = self.ic.stop_after_current
        soc.on_mip = self._mirror_mip
        self._mirror_mip(soc.mip)
        self._load_image()
        self.reset()

    # ------------------------------------------------------------ setup
    def _load_image(self) -> None:
        for seg in self.image.segments:
            self.uc.mem_write(seg.addr, seg.data)
            if seg.executable:
                self._scan_for_watch_sites(seg.addr, seg.data)

    def _scan_for_watch_sites(self, addr: int, data: bytes) -> None:
        """Mark csr writes to mstatus/mie (an interrupt may become deliverable right after them) and mret
        (performed by the instruction hook; it stops right after one while an interrupt is pending)."""
        for off in range(0, len(data) - 3, 2):
            insn = int.from_bytes(data[off:off + 4], "little")
            if insn & 0x7F != OPCODE_SYSTEM:
                continue
            funct3, csr = (insn >> 12) & 7, insn >> 20
            if insn == INSN_WFI:
                self.wfi_resume.add(addr + off + 4)
            if insn == INSN_MRET:
                self.ic.emulate_mret(addr + off)
            elif funct3 not in (0, 4) and csr in (CSR_MSTATUS, CSR_MIE):
                self.ic.watch(addr + off)

    def _map_window(self, base: int, size: int) -> None:
        """MMIO callbacks registered with Unicorn's C API directly (the Python binding adds two call layers)."""
        bus, clock, ics, soc = self.soc.bus, self.soc.clock, self.ic.s, self.soc
        dev = bus.find(base)[0]
        timed = getattr(dev, "clock", None) is not None
        pop_offset = UART_DATA_OFFSET if dev is soc.uart else -1   # popping RX may schedule the next landing
        is_accel = dev.name in ACCELERATOR_BLOCKS
        dev_read, dev_write = dev.read, dev.write

        def shorten(count: int, e: int | None) -> None:
            if e is not None and count - 1 + e < ics.limit:
                ics.limit = max(count, count - 1 + e)

        def read(_uc, offset, sz, _ud):
            try:
                count = ics.count
                clock.now = self.slice_base + count - 1
                value = dev_read(offset, sz)
                if bus.tracer:
                    bus.tracer("R", base + offset, sz, value)
                if offset == pop_offset:
                    shorten(count, dev.next_event())
                return value
            except BaseException as exc:  # never unwind through C: stop and re-raise after emu_start
                self._callback_failed(exc)
                return 0

        def write(_uc, offset, sz, value, _ud):
            try:
                count = ics.count
                clock.now = self.slice_base + count - 1
                if bus.tracer:
                    bus.tracer("W", base + offset, sz, value)
                dev_write(offset, sz, value)
                if timed:
                    shorten(count, dev.next_event())
                elif is_accel:
                    shorten(count, soc.next_event())
            except BaseException as exc:
                self._callback_failed(exc)

        cbs = (MMIO_READ_CFUNC(read), MMIO_WRITE_CFUNC(write))
        self._mmio_keep.append(cbs)
        status = uclib.uc_mmio_map(self.uc._uch, base, size, ctypes.cast(cbs[0], ctypes.c_void_p), None,
                                   ctypes.cast(cbs[1], ctypes.c_void_p), None)
        if status != UC.UC_ERR_OK:
            raise UcError(status)

    def _callback_failed(self, exc: BaseException) -> None:
        if self._cb_error is None:
            self._cb_error = exc
        self.uc.emu_stop()

    def reset(self) -> None:
        uc = self.uc
        for i in range(1, 32):
            uc.reg_write(R.UC_RISCV_REG_X0 + i, 0)
        for reg in _CSRS.values():
            uc.reg_write(reg, 0)
        self.pc = self.image.entry
        self.wfi = False
        self._exc = None
        self._bad = None

    # ------------------------------------------------------------ hooks
    def _mirror_mip(self, mip: int) -> None:
        self.ic.s.pending = mip
    def _on_exception(self, uc, intno: int, _) -> None:
        self._exc = (intno, uc.reg_read(R.UC_RISCV_REG_PC))
        uc.emu_stop()

    def _on_bad_access(self, uc, access, address, size, value, _) -> bool:
        self._bad = (address, uc.reg_read(R.UC_RISCV_REG_PC))
        return False

    # ------------------------------------------------------------ traps
    def csr(self, name: str) -> int:
        return self.uc.reg_read(_CSRS[name])

    def enter_trap(self, cause: int, epc: int, tval: int = 0, interrupt: bool = False) -> None:
        _, mstatus, mtvec = self._trap_csrs()
        self._enter(cause, epc, tval, interrupt, mstatus, mtvec)

    def _trap_csrs(self) -> tuple[int, int, int]:
        """(mie, mstatus, mtvec) in one C call."""
        uclib.uc_reg_read_batch(self.uc._uch, self._csr_ids, self._csr_ptrs, 3)
        v = self._csr_vals
        return v[0], v[1], v[2]

    def _enter(self, cause: int, epc: int, tval: int, interrupt: bool, mstatus: int, mtvec: int) -> None:
        """Trap entry (mstatus, mepc, mcause, mtval written in one C call); PC to the vector."""
        mpie = MSTATUS_MPIE if mstatus & MSTATUS_MIE else 0
        w = self._trap_vals
        w[0] = ((mstatus & ~(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)) | mpie | MSTATUS_MPP) & 0xFFFF_FFFF
        w[1] = epc & 0xFFFF_FFFF
        w[2] = (cause | (INTERRUPT_BIT if interrupt else 0)) & 0xFFFF_FFFF
        w[3] = tval & 0xFFFF_FFFF
        uclib.uc_reg_write_batch(self.uc._uch, self._trap_ids, self._trap_ptrs, 4)
        base = mtvec & ~3
        self.pc = base + 4 * cause if interrupt and mtvec & 3 == 1 else base
        if self.soc.trace:
            kind = "interrupt" if interrupt else "trap"
            name = f"{kind} {cause}" + ("" if interrupt else f" ({MCAUSE_NAMES.get(cause, '?')})")
            self.soc.trace("irq", name, self.soc.clock.now, self.soc.clock.now, {"mepc": epc, "cause": cause})

    def registers(self) -> dict[str, int]:
        regs = {ABI_NAMES[i]: self.uc.reg_read(R.UC_RISCV_REG_X0 + i) for i in range(1, 32)}
        regs.update({n: self.csr(n) for n in _CSRS})
        return regs

    def cpu_state(self) -> dict:
        """Everything of the core a snapshot needs (emulator.snapshot)."""
        return {"x": [self.uc.reg_read(R.UC_RISCV_REG_X0 + i) for i in range(32)],
                "csr": {n: self.csr(n) for n in _CSRS}, "pc": self.pc, "wfi": self.wfi, "mrets": self.ic.s.mrets}

    def set_cpu_state(self, state: dict) -> None:
        for i in range(1, 32):
            self.uc.reg_write(R.UC_RISCV_REG_X0 + i, state["x"][i])
        for n, v in state["csr"].items():
            self.uc.reg_write(_CSRS[n], v)
        self.pc, self.wfi = state["pc"], state["wfi"]
        self.ic.s.mrets = state["mrets"]
        self._exc = self._bad = None
        self._mirror_mip(self.soc.mip)
        self.uc.ctl_flush_tb()   # memories were rewritten under Unicorn: drop every translated block

    def register_dump(self) -> str:
        regs = self.registers()
        lines = [" ".join(f"{n:>8}=0x{regs[n]:08x}" for n in list(regs)[i:i + 4]) for i in range(0, len(regs), 4)]
        return "\n".join(lines)

    @property
    def symbols(self):
        """The image's Symbolizer (function names, DWARF lines, panic tables), read on first use."""
        if self._symbols is None:
            from emulator.symbolize import Symbolizer
            self._symbols = Symbolizer(self.image.path)
        return self._symbols

    def _fatal(self, reason: str, pc: int, message: str, code: int = 1) -> ExitInfo:
        regs = self.registers()
        where = f"\n  at {self.symbols.describe(pc)}"
        ra = regs.get("ra")
        if ra:
            where += f"\n  called from {self.symbols.describe(ra)} (ra)"
        return ExitInfo(code, reason, self.soc.clock.now, pc, f"{message}{where}\n{self.register_dump()}", regs)

    def _synchronous(self, cause: int, pc: int, tval: int) -> ExitInfo | None:
        if self.csr("mtvec") == 0:
            return self._fatal("fault", pc, f"{MCAUSE_NAMES.get(cause, 'exception')} (mcause {cause}) at pc 0x{pc:08x}, "
                                            f"mtval 0x{tval:08x}, no trap vector (mtvec = 0)")
        self.enter_trap(cause, pc, tval)
        return None

    def _insn_at(self, addr: int) -> int:
        try:
            return int.from_bytes(self.uc.mem_read(addr, 4), "little")
        except UcError:
            return 0

    # ------------------------------------------------------------ run loop
    def _read_reg(self, reg: int) -> int:
        """A 32-bit register through Unicorn's C API (the binding's reg_read costs several Python calls)."""
        uclib.uc_reg_read(self.uc._uch, reg, self._reg_ref)
        return self._reg.value

    def _write_reg(self, reg: int, value: int) -> None:
        self._reg.value = value & 0xFFFF_FFFF
        uclib.uc_reg_write(self.uc._uch, reg, self._reg_ref)

    def run(self, until_cycle: int) -> ExitInfo:
        """The slice loop: one pass per slice; everything a pass does not need is skipped (it is hot)."""
        soc, link, clock = self.soc, self.link, self.soc.clock
        trap_csrs, next_event, slice_ = self._trap_csrs, soc.next_event, self._slice
        poll, sleep = link.poll, self._sleep
        while True:
            if link.stop_signal is not None:
                return ExitInfo(128 + link.stop_signal, "signal", clock.now, self.pc, f"stopped by signal {link.stop_signal}")
            if soc.halt is not None:
                kind, value = soc.halt
                if kind == "poweroff":
                    return ExitInfo(value, "poweroff", clock.now, self.pc, f"powered off with code {value}")
                soc.core_reset(value)
                self.reset()
                continue
            now = clock.now
            if now >= until_cycle:
                return ExitInfo(0, "limit", now, self.pc, f"virtual time limit of {until_cycle} cycles reached")
            if soc.mip:
                mie, mstatus, mtvec = trap_csrs()
                cause = pending_interrupt(soc.mip, mie)
                if cause is not None:
                    self.wfi = False
                    if mstatus & MSTATUS_MIE:
                        self._enter(cause, self.pc, 0, True, mstatus, mtvec)
            if self.wfi:
                if not sleep(until_cycle):
                    return ExitInfo(0, "limit", clock.now, self.pc, "core asleep in WFI with nothing left to wake it")
                continue
            ev = next_event()
            n = until_cycle - now
            if n > SLICE_MAX:
                n = SLICE_MAX
            if ev is not None and ev < n:
                n = ev
            if n <= 0:  # an event is due now: perform it, then run at least one instruction
                soc.advance_to(now)
                ev = next_event()
                n = 1 if ev == 0 else max(1, min(until_cycle - now, SLICE_MAX, ev if ev is not None else SLICE_MAX))
            result = slice_(n)
            poll()
            if result is not None:
                return result

    def _slice(self, n: int) -> ExitInfo | None:
        """Run up to n instructions; performs due events; returns an ExitInfo when the run must end."""
        uc, ic, soc = self.uc, self.ic, self.soc
        base = self.slice_base = soc.clock.now
        self._exc = self._bad = None
        s = ic.s
        s.count = 0
        s.limit = n
        uc._hook_exception = None
        status = uclib.uc_emu_start(uc._uch, self.pc, UNTIL_NEVER, 0, 0)
        count = s.count
        executed = count - 1 if count > s.limit else count
        soc.advance_to(base + executed)
        pc = self._read_reg(R.UC_RISCV_REG_PC)
        self.pc = pc
        if self._cb_error is not None or uc._hook_exception is not None:
            exc = self._cb_error or uc._hook_exception
            self._cb_error = uc._hook_exception = None
            raise exc
        if self._exc is not None:
            intno, reported = self._exc
            fault_pc = reported - 4  # Unicorn reports the faulting instruction + 4, also for 2-byte ones (#1990)
            cause = CAUSE_ECALL_M if intno == CAUSE_ECALL_U else intno
            tval = self._insn_at(fault_pc) if cause == CAUSE_ILLEGAL else 0
            if cause == CAUSE_ILLEGAL and tval & 3 != 3:
                tval &= 0xFFFF
            self.pc = fault_pc
            return self._synchronous(cause, fault_pc, tval)
        if status != UC.UC_ERR_OK:
            err = UcError(status)
            if status in _MEM_ERRORS:
                addr, at = self._bad if self._bad else (0, pc)
                cause = _MEM_ERRORS[status]
                self.pc = at
                return self._synchronous(cause, at, addr)
            insn = self._insn_at(pc)
            if status == UC.UC_ERR_INSN_INVALID and (insn == INSN_EBREAK or insn & 0xFFFF == INSN_C_EBREAK):
                return self._fatal("ebreak", pc, f"ebreak at pc 0x{pc:08x}", code=0)
            return self._fatal("fault", pc, f"unicorn stopped with {err} at pc 0x{pc:08x}")
        if count <= s.limit and (pc in self.wfi_resume or (not self.flash_range[0] <= pc < self.flash_range[1]
                                                          and self._insn_at(pc - 4) == INSN_WFI)):
            self.wfi = True
        return None

    def _sleep(self, until_cycle: int) -> bool:
        """Core in WFI: jump to the next device event, or wait for the host. False when nothing can wake it."""
        soc, clock = self.soc, self.soc.clock
        ev = soc.next_event()
        if ev is None or clock.now + ev >= until_cycle:
            ev = soc.quiet_in()  # nothing else scheduled: let the UART finish sending first
        if ev is not None and clock.now + ev < until_cycle:
            step = self.link.idle(ev)
        else:  # nothing scheduled before the limit: only the host can wake the core
            step = self.link.idle(None)
            if step is None:
                soc.advance_to(until_cycle)
                return False
            step = min(step, until_cycle - clock.now)
        soc.advance_to(clock.now + step)
        self.link.poll()
        return True
