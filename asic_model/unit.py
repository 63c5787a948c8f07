"""The register protocol every one-operation compute unit shares (tensor core, vector unit).

CTRL.START (ignored while BUSY) clears DONE/ERR/ERR_CODE and validates: a failing
check sets ERR with its code at once (zero time, nothing touched); otherwise BUSY
is held for the operation's modeled cycles and the subclass's `_complete` runs
when they have elapsed. CTRL.ABORT ends a busy operation with ERR_ABORTED,
writing nothing. STATUS.DONE/ERR are write-1-to-clear; ERR_CODE keeps the last
failure's code until the next START. The unit's interrupt line is
(DONE | ERR) & CTRL.IRQ_EN. Conventions: docs/accelerator.md.

Usage (a subclass):
    class MyUnit(OneShotUnit):
        KIND = "myunit"                          # trace kind
        def __init__(self, acc): super().__init__(acc, MY_BLOCK, "MYUNIT")
        def _validate(self, ctrl): return ERR_SHAPE or an op with .cycles and .start
        def _complete(self): ...write results...; self._finish(trace_args)
        def _name(self, op): return "op description"
"""

from __future__ import annotations

from asic_model.bus import IrqLine, RegisterDevice
from asic_model.soc_map import CONSTANTS

ERR_ABORTED = CONSTANTS["ERR_ABORTED"].value


class OneShotUnit(RegisterDevice):
    """START/ABORT/STATUS/IRQ handling and event-driven time for a unit running one operation at a time."""

    KIND = "unit"

    def __init__(self, acc, block, irq_name: str):
        self.acc = acc
        super().__init__(block)
        ctrl, status = block.reg("CTRL"), block.reg("STATUS")
        self._start_m, self._irq_en_m, self._abort_m = (ctrl.field(f).mask for f in ("START", "IRQ_EN", "ABORT"))
        self._busy_m, self._done_m, self._err_m = (status.field(f).mask for f in ("BUSY", "DONE", "ERR"))
        self._code_shift = status.field("ERR_CODE").lo
        self._irq_name = irq_name
        self.irq[irq_name] = IrqLine(irq_name)
        self._clear_state()

    # ------------------------------------------------------------ hooks
    def _validate(self, ctrl: int):
        raise NotImplementedError

    def _complete(self) -> None:
        raise NotImplementedError

    def _name(self, op) -> str:
        raise NotImplementedError

    def _hung(self) -> bool:
        """True while an injected fault keeps the operation from completing."""
        return False

    def _on_abort(self) -> None:
        """Called when ABORT ends a busy operation (before it fails)."""

    # ------------------------------------------------------------ state
    def _clear_state(self) -> None:
        self.busy = False
        self.done = False
        self.err = False
        self.code = 0
        self.remaining = 0
        self.op = None

    def reset(self) -> None:
        self.reset_registers()
        self._clear_state()
        self._sync()

    def write_CTRL(self, value: int) -> None:
        self.set("CTRL", value & ~(self._start_m | self._abort_m))
        if value & self._abort_m and self.busy:
            self._on_abort()
            self._fail(ERR_ABORTED)
        elif value & self._start_m and not self.busy:
            self._start(value)
        self._sync()

    def write_STATUS(self, value: int) -> None:
        if value & self._done_m:
            self.done = False
        if value & self._err_m:
            self.err = False
        self._sync()

    def _sync(self) -> None:
        self.set("STATUS", (self._busy_m if self.busy else 0) | (self._done_m if self.done else 0)
                 | (self._err_m if self.err else 0) | (self.code << self._code_shift))
        self.irq[self._irq_name].set((self.done or self.err) and bool(self.values["CTRL"] & self._irq_en_m))

    def _start(self, ctrl: int) -> None:
        self.done = self.err = False
        self.code = 0
        op = self._validate(ctrl)
        if isinstance(op, int):
            self._fail(op)
            return
        self.op = op
        self.busy = True
        self.remaining = op.cycles

    def _fail(self, code: int) -> None:
        if self.op is not None and self.busy:
            self.acc.emit(self.KIND, self._name(self.op), self.op.start, self.acc.now, {"error": code})
        self.busy = False
        self.err = True
        self.code = code
        self.remaining = 0
        self.op = None

    def _finish(self, trace_args: dict) -> None:
        """The operation landed: trace it and set DONE."""
        self.acc.emit(self.KIND, self._name(self.op), self.op.start, self.acc.now, trace_args)
        self.busy = False
        self.done = True
        self.remaining = 0
        self.op = None

    # ------------------------------------------------------------ time
    def cycles_to_event(self) -> int | None:
        if not self.busy or self._hung():
            return None
        return self.remaining

    def step(self, cycles: int) -> None:
        if not self.busy or self._hung():
            return
        self.remaining -= cycles
        if self.remaining <= 0:
            self._complete()
            self._sync()
