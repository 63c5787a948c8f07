"""Command-stream interpreter (model format v2): a slot's validated stream, once per RUN row, from the main loop.

Portable logic over the DMA and tensor-core drivers and run-time MMIO writes.
Each `stream_poll` (one per main-loop pass) executes at most CMD_BUDGET
commands, so PING, JOB_STATUS and CANCEL are answered during a long stream:
CMD_WRITE writes a unit register with its value relocated (RELOC_IMAGE: model
base, RELOC_INPUT / RELOC_OUTPUT: this row's input / output row), CMD_WAIT waits
until every unit of its mask is idle, CMD_LAYER names the layer for
`failed_layer`. While waiting the main loop sleeps in wfi (the compiler sets
IRQ_EN in every START, so DMA, TENSOR and VECTOR completions wake it). Each
pass reads every unit's STATUS, remembers an ERR per unit and clears DONE/ERR
(the lines are level-triggered); a wait that finds a remembered ERR on one of
its units fails the job with that unit's error and fault, as v1 does, and a unit
busy longer than HANG_CYCLES while waited for is hung. The end of the stream is a
wait on every unit. Each command is re-checked as it runs (`cmd_check`), so a
stream changed in DRAM after LOAD_MODEL fails the job instead of writing
outside the unit registers. Each command is read from DRAM once (`fetch`: three
word reads when the stream is word-aligned, else byte reads), then checked and run
from those fields: the control core's cost per command is the budget that decides
how much of the accelerator's time the firmware adds (docs/compiler.md). The engine owns the job record: it reads `sf` when
`stream_poll` returns STREAM_FAILED and calls `stream_abort`.

Usage:
    stream_start(slot, rows)
    st = stream_poll()          # STREAM_WAITING / STREAM_PROGRESS / STREAM_DONE / STREAM_FAILED
    stream_layer(); sf.src, sf.err, sf.fault, sf.detail; stream_abort()
"""

from firmware.rt import u8, u32, array, const, record, mem_read32, mmio_read_at, mmio_write_at, wrapping_add, wrapping_mul
from firmware.rt import wrapping_sub
from firmware.regs import ERR_ABORTED, ERR_SHAPE, VECTOR
from dram import rd8, rd16, rd32
from hw import now_lo
from dma import dma_status, dma_clear, dma_abort
from tensor import tc_status, tc_clear, tc_abort, st_busy, st_done, st_err, st_code, STATUS_W1C
from models import slot_base, slot_layer_count
from models_v2 import (cmd_fields_check, v2_cmds, v2_count, v2_input, v2_in_row, v2_output, v2_out_row, v2_channels,
                       CMD_RELOC, CMD_ARG, CMD_ADDR, CMD_VALUE)
from firmware.protocol_v1 import (CMD_SIZE, CMD_WRITE, CMD_WAIT, RELOC_IMAGE, RELOC_INPUT, RELOC_OUTPUT,
                                  WAIT_TENSOR, WAIT_VECTOR, ERRSRC_DMA, ERRSRC_TENSOR, ERRSRC_VECTOR,
                                  ERRSRC_FIRMWARE, ERRSRC_WATCHDOG, FAULT_DMA, FAULT_TENSOR, FAULT_VECTOR)

STREAM_WAITING = const(0)     # a wait is pending on a unit with an interrupt: the main loop may sleep
STREAM_PROGRESS = const(1)
STREAM_DONE = const(2)
STREAM_FAILED = const(3)      # `sf` says why
CMD_BUDGET = const(32)        # commands per main-loop pass
HANG_CYCLES = const(100000000)    # a waited-for unit busy this many core cycles (1 s at 100 MHz) is hung
UNITS = const(6)              # WAIT bits: DMA channels 0..3, TENSOR (4), VECTOR (5)
UNIT_TENSOR = const(4)
UNIT_VECTOR = const(5)
WORD_MASK = const(3)
BYTE_MASK = const(0xFF)
RELOC_SHIFT = const(8)        # command word 0: op | reloc << 8 | arg << 16 (docs/model-format.md)
ARG_SHIFT = const(16)
CHANNEL_SHIFT = const(8)      # FAULT_DMA detail: channel << 8 | ERR_*
VECTOR_STATUS = const(VECTOR.STATUS.addr)
VECTOR_CTRL = const(VECTOR.CTRL.addr)
VECTOR_CTRL_ABORT = const(VECTOR.CTRL.ABORT.mask)


@record
class Stream:
    slot: u32
    cmds: u32             # absolute address of command 0
    count: u32
    pc: u32               # next command
    row: u32
    rows: u32
    layer: u32
    layers: u32
    base: u32
    in_row: u32           # this row's input and output rows (absolute)
    out_row: u32
    channels: u32
    wait: u32             # WAIT mask still pending (0: none)
    wait_tick: u32        # MTIME (low word) when it began
    ending: bool          # the end-of-stream wait was issued for this row
    vector: bool          # the stream has written the VECTOR block (its STATUS is read)
    bad: u32              # units that ended with ERR since the job began (bit = WAIT bit)
    aligned: bool         # command 0 is word-aligned: commands are read as three words (else byte by byte)


@record
class Command:
    """The command being run, read once from DRAM (`fetch`)."""
    op: u32
    reloc: u32
    arg: u32
    addr: u32
    value: u32


@record
class Failure:
    src: u32
    err: u32
    fault: u32
    detail: u32


ss = Stream()
sf = Failure()
cmd = Command()
unit_code = array(u8, UNITS)          # the ERR_* of each unit in `bad`


def stream_start(slot: u32, rows: u32) -> None:
    ss.slot = slot
    ss.cmds = v2_cmds(slot)
    ss.count = v2_count(slot)
    ss.rows = rows
    ss.layers = slot_layer_count(slot)
    ss.base = slot_base(slot)
    ss.channels = v2_channels(slot)
    ss.vector = False
    ss.aligned = ss.cmds & WORD_MASK == 0
    ss.row = 0
    begin_row()
    collect()                         # leftovers of an earlier job are not this job's errors
    ss.bad = 0


def begin_row() -> None:
    s: u32 = ss.slot
    ss.pc = 0
    ss.layer = 0
    ss.wait = 0
    ss.ending = False
    ss.in_row = wrapping_add(v2_input(s), wrapping_mul(ss.row, v2_in_row(s)))
    ss.out_row = wrapping_add(v2_output(s), wrapping_mul(ss.row, v2_out_row(s)))


def stream_layer() -> u32:
    return ss.layer


def note(u: u32, st: u32) -> u32:
    """Remember an ERR of unit u; its WAIT bit when it is busy."""
    if st_err(st) and ss.bad & (u32(1) << u) == 0:
        ss.bad = ss.bad | (u32(1) << u)
        unit_code[u] = u8(st_code(st))
    if st_busy(st):
        return u32(1) << u
    return 0


def collect() -> u32:
    """Read every unit's STATUS once: remember errors, clear DONE/ERR; the WAIT bits of the busy units."""
    busy: u32 = 0
    for ch in range(ss.channels):
        st: u32 = dma_status(ch)
        busy = busy | note(ch, st)
        if st_done(st) or st_err(st):
            dma_clear(ch)
    st2: u32 = tc_status()
    busy = busy | note(UNIT_TENSOR, st2)
    if st_done(st2) or st_err(st2):
        tc_clear()
    if ss.vector:
        st3: u32 = mmio_read_at(VECTOR_STATUS)
        busy = busy | note(UNIT_VECTOR, st3)
        if st_done(st3) or st_err(st3):
            mmio_write_at(VECTOR_STATUS, STATUS_W1C)
    return busy


def all_units() -> u32:
    m: u32 = ((u32(1) << ss.channels) - 1) | WAIT_TENSOR
    if ss.vector:
        m = m | WAIT_VECTOR
    return m


def failure(src: u32, err: u32, fault: u32, detail: u32) -> u32:
    sf.src = src
    sf.err = err
    sf.fault = fault
    sf.detail = detail
    return STREAM_FAILED


def unit_failure(u: u32, err: u32, src_override: u32) -> u32:
    """The job fails because of unit u (error err; src_override: ERRSRC_WATCHDOG for a hang, else 0)."""
    if u == UNIT_TENSOR:
        return failure(src_override if src_override != 0 else ERRSRC_TENSOR, err, FAULT_TENSOR, err)
    if u == UNIT_VECTOR:
        return failure(src_override if src_override != 0 else ERRSRC_VECTOR, err, FAULT_VECTOR, err)
    return failure(src_override if src_override != 0 else ERRSRC_DMA, err, FAULT_DMA, (u << CHANNEL_SHIFT) | err)


def lowest(mask: u32) -> u32:
    for u in range(UNITS):
        if mask & (u32(1) << u) != 0:
            return u
    return 0


def check_wait(busy: u32) -> u32:
    """STREAM_PROGRESS when no wait is pending (any more), else STREAM_WAITING or STREAM_FAILED."""
    if ss.wait == 0:
        return STREAM_PROGRESS
    if busy & ss.wait != 0:
        if wrapping_sub(now_lo(), ss.wait_tick) > HANG_CYCLES:
            return unit_failure(lowest(busy & ss.wait), ERR_ABORTED, ERRSRC_WATCHDOG)
        return STREAM_WAITING
    bad: u32 = ss.bad & ss.wait
    if bad != 0:
        u: u32 = lowest(bad)
        return unit_failure(u, unit_code[u], 0)
    ss.wait = 0
    return STREAM_PROGRESS


def set_wait(mask: u32) -> None:
    ss.wait = mask
    ss.wait_tick = now_lo()


def fetch(c: u32) -> None:
    """Read the command at c into `cmd`: three word reads when aligned (CMD_SIZE is a multiple of 4)."""
    if ss.aligned:
        w: u32 = mem_read32(c)
        cmd.op = w & BYTE_MASK
        cmd.reloc = (w >> RELOC_SHIFT) & BYTE_MASK
        cmd.arg = w >> ARG_SHIFT
        cmd.addr = mem_read32(c + CMD_ADDR)
        cmd.value = mem_read32(c + CMD_VALUE)
    else:
        cmd.op = rd8(c)
        cmd.reloc = rd8(c + CMD_RELOC)
        cmd.arg = rd16(c + CMD_ARG)
        cmd.addr = rd32(c + CMD_ADDR)
        cmd.value = rd32(c + CMD_VALUE)


def relocate() -> u32:
    v: u32 = cmd.value
    reloc: u32 = cmd.reloc
    if reloc == RELOC_IMAGE:
        return wrapping_add(ss.base, v)
    if reloc == RELOC_INPUT:
        return wrapping_add(ss.in_row, v)
    if reloc == RELOC_OUTPUT:
        return wrapping_add(ss.out_row, v)
    return v


def stream_poll() -> u32:
    """Advance the stream by up to CMD_BUDGET commands."""
    busy: u32 = collect()
    n: u32 = 0
    while True:
        w: u32 = check_wait(busy)
        if w == STREAM_FAILED:
            return w
        if w == STREAM_WAITING:
            if n > 0:
                return STREAM_PROGRESS
            return STREAM_WAITING
        if n >= CMD_BUDGET:
            return STREAM_PROGRESS
        n += 1
        if ss.pc == ss.count:
            if not ss.ending:
                ss.ending = True
                set_wait(all_units())
                busy = collect()
                continue
            ss.row += 1
            if ss.row == ss.rows:
                return STREAM_DONE
            begin_row()
            continue
        fetch(ss.cmds + ss.pc * CMD_SIZE)
        if cmd_fields_check(cmd.op, cmd.reloc, cmd.arg, cmd.addr, cmd.value, ss.layers, ss.channels) != 0:
            return failure(ERRSRC_FIRMWARE, ERR_SHAPE, FAULT_TENSOR, ERR_SHAPE)     # DRAM changed since LOAD_MODEL
        ss.pc += 1
        op: u32 = cmd.op
        if op == CMD_WRITE:
            addr: u32 = cmd.addr
            if addr >= VECTOR.base and addr - VECTOR.base < VECTOR.size:
                ss.vector = True
            mmio_write_at(addr, relocate())
        elif op == CMD_WAIT:
            set_wait(cmd.arg)
            busy = collect()
        else:
            ss.layer = cmd.arg


def stream_abort() -> None:
    """Stop every unit the stream may have started and clear their status (the job failed or was cancelled)."""
    for ch in range(ss.channels):
        if st_busy(dma_status(ch)):
            dma_abort(ch)
        dma_clear(ch)
    if st_busy(tc_status()):
        tc_abort()
    tc_clear()
    if ss.vector:
        if st_busy(mmio_read_at(VECTOR_STATUS)):
            mmio_write_at(VECTOR_CTRL, VECTOR_CTRL_ABORT)
        mmio_write_at(VECTOR_STATUS, STATUS_W1C)
