"""Chip drivers for the small blocks: TIMER tick, WDT, INTC mask, PERF counters, ACCEL profile, SYSCTL.

Hardware-interface layer: only register names from firmware.regs, no protocol
knowledge. The machine timer raises a tick every TICK_CYCLES core cycles (the
main loop wakes at least that often, kicks the watchdog and times jobs out);
INTC lines of the accelerator are masked by the trap handler when they fire and
unmasked by the main loop after it has served the status registers (they are
level-triggered). 64-bit counters are read LO then HI into a `Pair`.

Usage:
    hw_boot(); tick_isr(); wdt_kick(); perf_read(PERF_MACS, pair); prof.sram_size
"""

from firmware.rt import u32, const, record, mmio_read, mmio_write, field_get, wrapping_add
from firmware.regs import TIMER, WDT, INTC, PERF, ACCEL, SYSCTL
from firmware.regs import WDT_KICK_KEY, IRQ_UART, IRQ_DMA0, IRQ_DMA1, IRQ_DMA2, IRQ_DMA3, IRQ_DMA_ERR, IRQ_TENSOR
from firmware.regs import IRQ_ECC, IRQ_WDT, IRQ_VECTOR

SRAM_BASE = const(0x20000000)         # = asic_model.soc_map MEMORY["SRAM"].base (pinned by a test)
TICK_CYCLES = const(1000000)          # 10 ms at 100 MHz: main-loop heartbeat
WDT_TIMEOUT = const(50000000)         # 0.5 s at 100 MHz without a kick resets the core
WDT_PANIC_TIMEOUT = const(20000)      # after a panic: reset soon
NEVER = const(0xFFFFFFFF)
IRQ_ACCEL_MASK = const((1 << IRQ_DMA0) | (1 << IRQ_DMA1) | (1 << IRQ_DMA2) | (1 << IRQ_DMA3) | (1 << IRQ_DMA_ERR)
                       | (1 << IRQ_TENSOR) | (1 << IRQ_VECTOR) | (1 << IRQ_ECC) | (1 << IRQ_WDT))
IRQ_ALL_MASK = const(IRQ_ACCEL_MASK | (1 << IRQ_UART))
# PERF counter indices, soc_map PERF order (= TLM_* 0..14)
PERF_CYCLES = const(0)
PERF_MACS = const(4)
PERF_ENERGY_NJ = const(13)
PERF_COUNT = const(15)


@record
class Pair:
    lo: u32
    hi: u32


@record
class Profile:
    profile_id: u32
    array_rows: u32
    array_cols: u32
    vector_width: u32
    sram_size: u32
    sram_banks: u32
    dram_size: u32
    dma_channels: u32
    clock_hz: u32


@record
class HwState:
    ticks: u32           # timer ticks since boot (written by the ISR)
    accel_irqs: u32      # accelerator INTC lines that fired since the main loop last looked (ISR)
    intc_enable: u32     # shadow of INTC.ENABLE


hs = HwState()
prof = Profile()


def hw_boot() -> None:
    prof.profile_id = mmio_read(ACCEL.PROFILE_ID)
    prof.array_rows = mmio_read(ACCEL.ARRAY_ROWS)
    prof.array_cols = mmio_read(ACCEL.ARRAY_COLS)
    prof.vector_width = mmio_read(ACCEL.VECTOR_WIDTH)
    prof.sram_size = mmio_read(ACCEL.SRAM_SIZE)
    prof.sram_banks = mmio_read(ACCEL.SRAM_BANKS)
    prof.dram_size = mmio_read(ACCEL.DRAM_SIZE)
    prof.dma_channels = mmio_read(ACCEL.DMA_CHANNELS)
    prof.clock_hz = mmio_read(ACCEL.CLOCK_HZ)
    hs.ticks = 0
    hs.accel_irqs = 0
    mmio_write(WDT.TIMEOUT, WDT_TIMEOUT)
    mmio_write(WDT.CTRL, WDT.CTRL.ENABLE.mask)
    wdt_kick()
    tick_arm()
    hs.intc_enable = IRQ_ALL_MASK
    mmio_write(INTC.ENABLE, hs.intc_enable)


# ------------------------------------------------------------ timer
def tick_arm() -> None:
    tick_arm_in(TICK_CYCLES)


def tick_arm_in(cycles: u32) -> None:
    """MTIMECMP = MTIME + cycles (written HI-LO-HI so it never matches early)."""
    lo: u32 = mmio_read(TIMER.MTIME_LO)
    hi: u32 = mmio_read(TIMER.MTIME_HI)
    nlo: u32 = wrapping_add(lo, cycles)
    if nlo < lo:
        hi = wrapping_add(hi, 1)
    mmio_write(TIMER.MTIMECMP_HI, NEVER)
    mmio_write(TIMER.MTIMECMP_LO, nlo)
    mmio_write(TIMER.MTIMECMP_HI, hi)


def tick_isr() -> None:
    hs.ticks = wrapping_add(hs.ticks, 1)
    tick_arm()


def ticks() -> u32:
    return hs.ticks


def now_lo() -> u32:
    """MTIME's low word: elapsed core cycles by wrapping subtraction (spans below 2^32 cycles)."""
    return mmio_read(TIMER.MTIME_LO)


def mtime_read(out: Pair) -> None:
    out.lo = mmio_read(TIMER.MTIME_LO)
    out.hi = mmio_read(TIMER.MTIME_HI)


# ------------------------------------------------------------ watchdog
def wdt_kick() -> None:
    mmio_write(WDT.KICK, WDT_KICK_KEY)


def wdt_warned() -> bool:
    """True (and cleared) when the watchdog's half-time warning fired."""
    if field_get(WDT.STATUS.WARN, mmio_read(WDT.STATUS)) == 0:
        return False
    mmio_write(WDT.STATUS, WDT.STATUS.WARN.mask)
    return True


def wdt_reset_soon() -> None:
    """Panic path: a short timeout, so the watchdog resets the core promptly."""
    mmio_write(WDT.TIMEOUT, WDT_PANIC_TIMEOUT)
    mmio_write(WDT.CTRL, WDT.CTRL.ENABLE.mask)
    wdt_kick()


# ------------------------------------------------------------ interrupt controller
def intc_isr_mask(line: u32) -> None:
    """Trap handler: mask a level-triggered accelerator line until the main loop served it."""
    hs.accel_irqs = hs.accel_irqs | (1 << line)
    hs.intc_enable = hs.intc_enable & (0xFFFFFFFF ^ (1 << line))
    mmio_write(INTC.ENABLE, hs.intc_enable)


def intc_claim() -> u32:
    return mmio_read(INTC.CLAIM)


def intc_take_accel() -> u32:
    """Main loop (interrupts disabled): the accelerator lines that fired; unmask them all."""
    fired: u32 = hs.accel_irqs
    hs.accel_irqs = 0
    if hs.intc_enable != IRQ_ALL_MASK:
        hs.intc_enable = IRQ_ALL_MASK
        mmio_write(INTC.ENABLE, hs.intc_enable)
    return fired


def accel_irq_pending() -> bool:
    return hs.accel_irqs != 0


# ------------------------------------------------------------ PERF counters
def perf_read(idx: u32, out: Pair) -> None:
    """Counter `idx` (soc_map PERF order) as a 64-bit pair; LO first (it latches HI)."""
    if idx == 0:
        out.lo = mmio_read(PERF.CYCLES_LO)
        out.hi = mmio_read(PERF.CYCLES_HI)
    elif idx == 1:
        out.lo = mmio_read(PERF.TC_BUSY_LO)
        out.hi = mmio_read(PERF.TC_BUSY_HI)
    elif idx == 2:
        out.lo = mmio_read(PERF.DMA_BUSY_LO)
        out.hi = mmio_read(PERF.DMA_BUSY_HI)
    elif idx == 3:
        out.lo = mmio_read(PERF.OVERLAP_LO)
        out.hi = mmio_read(PERF.OVERLAP_HI)
    elif idx == 4:
        out.lo = mmio_read(PERF.MACS_LO)
        out.hi = mmio_read(PERF.MACS_HI)
    elif idx == 5:
        out.lo = mmio_read(PERF.DMA_TO_SRAM_LO)
        out.hi = mmio_read(PERF.DMA_TO_SRAM_HI)
    elif idx == 6:
        out.lo = mmio_read(PERF.DMA_TO_DRAM_LO)
        out.hi = mmio_read(PERF.DMA_TO_DRAM_HI)
    elif idx == 7:
        out.lo = mmio_read(PERF.SRAM_RD_LO)
        out.hi = mmio_read(PERF.SRAM_RD_HI)
    elif idx == 8:
        out.lo = mmio_read(PERF.SRAM_WR_LO)
        out.hi = mmio_read(PERF.SRAM_WR_HI)
    elif idx == 9:
        out.lo = mmio_read(PERF.DRAM_RD_LO)
        out.hi = mmio_read(PERF.DRAM_RD_HI)
    elif idx == 10:
        out.lo = mmio_read(PERF.DRAM_WR_LO)
        out.hi = mmio_read(PERF.DRAM_WR_HI)
    elif idx == 11:
        out.lo = mmio_read(PERF.SPILLS_LO)
        out.hi = mmio_read(PERF.SPILLS_HI)
    elif idx == 12:
        out.lo = mmio_read(PERF.SPILL_BYTES_LO)
        out.hi = mmio_read(PERF.SPILL_BYTES_HI)
    elif idx == 13:
        out.lo = mmio_read(PERF.ENERGY_NJ_LO)
        out.hi = mmio_read(PERF.ENERGY_NJ_HI)
    else:
        out.lo = mmio_read(PERF.TC_SRAM_RD_LO)
        out.hi = mmio_read(PERF.TC_SRAM_RD_HI)


# ------------------------------------------------------------ SYSCTL
def boot_count() -> u32:
    return mmio_read(SYSCTL.BOOT_COUNT)


def reset_cause() -> u32:
    return field_get(SYSCTL.RESET_CAUSE.CAUSE, mmio_read(SYSCTL.RESET_CAUSE))


def core_clock_hz() -> u32:
    return mmio_read(SYSCTL.CORE_CLOCK_HZ)
