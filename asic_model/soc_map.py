"""The Tessera SoC's memory map and every register, declared once.

Everything else is derived from this module: the C header firmware and test
programs include (`build/generated/tessera_regs.h`, committed copy in
`docs/generated/`), the JSON description tools read, the Markdown register
reference, the device models' register files, and the constrained-Python
firmware's MMIO names. Regenerate with `tessera regmap generate`.

Usage:
    from asic_model.soc_map import SOC, CONSTANTS, MEMORY
    SOC.block("DMA").addr("CH0_SRC")          # absolute address
    CONSTANTS["IRQ_TENSOR"].value              # a named constant

Conventions: all registers are 32-bit little-endian. 64-bit counters are LO/HI
pairs; reading LO latches HI so that LO-then-HI reads are atomic. START bits
self-clear. STATUS registers are W1C for their DONE/ERR bits; their BUSY and
code fields are read-only and ignore writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from asic_model.regmap import Block, Field, Reg, Reserved, SocMap, repeated

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Const:
    """A named constant shared by the model, the emulator, firmware and host."""

    name: str
    value: int
    doc: str


@dataclass(frozen=True)
class Region:
    """A memory window of the SoC address space; `max_size` bounds what a machine may map."""

    name: str
    base: int
    max_size: int
    doc: str


# ---------------------------------------------------------------- memory map
MEMORY = (
    Region("FLASH", 0x0000_0000, 16 * MiB, "boot flash: the firmware image (text, rodata, data load image)"),
    Region("MMIO", 0x1000_0000, 16 * MiB, "peripheral registers (the blocks below)"),
    Region("SRAM", 0x2000_0000, 16 * MiB, "accelerator scratchpad, banked; tensor core operands live here"),
    Region("DRAM", 0x4000_0000, 512 * MiB, "device DRAM: models, inputs, outputs, spills"),
    Region("RAM", 0x8000_0000, 1 * MiB, "control core RAM: data, bss, stack"),
)


def region(name: str) -> Region:
    for r in MEMORY:
        if r.name == name:
            return r
    raise KeyError(f"no memory region {name!r}")


_C = [
    # interrupt sources on the interrupt controller (INTC bit numbers)
    Const("IRQ_UART", 0, "UART: RX data available, TX empty or RX overrun (see UART.IRQ_STATUS)"),
    Const("IRQ_DMA0", 1, "DMA channel 0 completion"),
    Const("IRQ_DMA1", 2, "DMA channel 1 completion"),
    Const("IRQ_DMA2", 3, "DMA channel 2 completion"),
    Const("IRQ_DMA3", 4, "DMA channel 3 completion"),
    Const("IRQ_DMA_ERR", 5, "DMA error on any channel"),
    Const("IRQ_TENSOR", 6, "tensor core done or error"),
    Const("IRQ_ECC", 7, "SRAM ECC error"),
    Const("IRQ_WDT", 8, "watchdog pre-timeout warning (half the timeout left)"),
    Const("IRQ_VECTOR", 9, "vector unit done or error"),
    Const("IRQ_COUNT", 10, "number of interrupt sources"),
    # RISC-V machine-mode causes the emulator delivers
    Const("MCAUSE_INTERRUPT", 0x8000_0000, "mcause bit set for interrupts"),
    Const("MCAUSE_MSI", 3, "machine software interrupt"),
    Const("MCAUSE_MTI", 7, "machine timer interrupt (TIMER.MTIMECMP)"),
    Const("MCAUSE_MEI", 11, "machine external interrupt (INTC)"),
    # sizes and limits
    Const("UART_FIFO_DEPTH", 64, "UART TX and RX FIFO depth in bytes"),
    Const("UART_BITS_PER_BYTE", 10, "start + 8 data + stop bits: one byte takes 10 bit times"),
    Const("UART_DEFAULT_BAUD", 115200, "UART.BAUD reset value"),
    Const("DMA_MAX_CHANNELS", 4, "DMA channel register sets (a profile enables 1 to 4)"),
    Const("DMA_DESC_WORDS", 8, "words in an in-memory DMA descriptor: SRC, DST, LEN, ROWS, SRC_STRIDE, DST_STRIDE, CTRL, NEXT"),
    Const("TC_MAX_DIM", 65535, "largest M, N or K of one tensor core operation"),
    Const("TC_MAX_SHIFT", 63, "largest requantization shift"),
    Const("VU_MAX_DIM", 65535, "largest geometry value (IN_H, IN_W, C, OUT_H, OUT_W, K_H, K_W, strides, DEPTH_MULT) of one vector operation"),
    Const("VU_MAX_LEFT_SHIFT", 23, "largest VECTOR.LEFT_SHIFT of ADD: (x + offset) << 23 still fits int32 for |x + offset| <= 255"),
    Const("VU_SOFTMAX_MAX_C", 511, "largest SOFTMAX channel count: a sum of exps below 512 keeps TFLite's output exponent <= 31"),
    Const("VU_OP_DWCONV", 1, "VECTOR.OP: depthwise convolution (TFLite DEPTHWISE_CONV_2D, per-channel requantization)"),
    Const("VU_OP_AVGPOOL", 2, "VECTOR.OP: average pool (TFLite AVERAGE_POOL_2D int8)"),
    Const("VU_OP_MAXPOOL", 3, "VECTOR.OP: max pool (TFLite MAX_POOL_2D int8)"),
    Const("VU_OP_ADD", 4, "VECTOR.OP: elementwise add with input rescaling (TFLite ADD int8)"),
    Const("VU_OP_SOFTMAX", 5, "VECTOR.OP: softmax over C per pixel (TFLite SOFTMAX int8, output scale 1/256, zero point -128)"),
    Const("VU_OP_FILL", 6, "VECTOR.OP: write the byte ZP_OUT over an OUT_H x OUT_W x C region"),
    Const("TFL_MAX_SHIFT", 31, "QMODE_TFL and VECTOR shifts lie in -TFL_MAX_SHIFT..TFL_MAX_SHIFT (positive = left)"),
    # keys that guard destructive writes
    Const("SYSCTL_RESET_KEY", 0x5253_5421, "write to SYSCTL.RESET to reset the core ('RST!')"),
    Const("SYSCTL_POWEROFF_KEY", 0x0FF0, "SYSCTL.POWEROFF.KEY value that powers off"),
    Const("WDT_KICK_KEY", 0x4B49_434B, "write to WDT.KICK to reload the watchdog ('KICK')"),
    Const("WDT_DISABLE_KEY", 0x4B49, "WDT.CTRL.KEY value required to clear ENABLE (the upper half of WDT_KICK_KEY, 'KI')"),
    Const("CHIP_ID", 0x5445_5353, "SYSCTL.ID value ('TESS')"),
    # error codes in STATUS.ERR_CODE fields
    Const("ERR_NONE", 0, "no error"),
    Const("ERR_BOUNDS", 1, "an address range lies outside every valid window"),
    Const("ERR_SHAPE", 2, "a zero or too large dimension, or a zero row count"),
    Const("ERR_QPARAM", 3, "a quantization parameter out of range (multiplier < 0, shift outside its mode's range, ACT_MIN > ACT_MAX, ...)"),
    Const("ERR_ECC", 4, "an SRAM ECC error was read"),
    Const("ERR_ABORTED", 5, "the operation was aborted through CTRL.ABORT"),
    Const("ERR_CHANNEL", 6, "the channel is faulty or not present in this profile"),
    Const("ERR_ALIGN", 7, "an address or stride is misaligned for its element type"),
    Const("ERR_OP", 8, "an unknown operation code (VECTOR.OP)"),
    # reset causes
    Const("RESET_POWER_ON", 0, "SYSCTL.RESET_CAUSE after power-on"),
    Const("RESET_WATCHDOG", 1, "SYSCTL.RESET_CAUSE after a watchdog timeout"),
    Const("RESET_SOFTWARE", 2, "SYSCTL.RESET_CAUSE after a write to SYSCTL.RESET"),
    Const("RESET_HOST", 3, "SYSCTL.RESET_CAUSE after a reset requested by the host/emulator"),
]
CONSTANTS = {c.name: c for c in _C}

_STATUS_FIELDS = (
    Field("BUSY", 0, 0, "operation in progress (read-only)"),
    Field("DONE", 1, 1, "operation completed; write 1 to clear"),
    Field("ERR", 2, 2, "operation failed; write 1 to clear"),
    Field("ERR_CODE", 15, 8, "ERR_* code of the last failure (read-only)"),
)

# ---------------------------------------------------------------- blocks
SYSCTL = Block("SYSCTL", 0x1000_0000, 0x1000, """System control: identity, build information, reset and power-off.

The emulator fills ID, VERSION, BUILD and BOOT_COUNT; BOOT_COUNT counts every
reset of the core since the session started, so the host sees each one.
SCRATCH registers survive a core reset (not a power-off) and carry panic
information across the watchdog reset.""", [
    Reg("ID", "RO", "chip identity, CHIP_ID", reset=0x5445_5353),
    Reg("VERSION", "RO", "SoC model version", fields=[
        Field("PATCH", 7, 0, "patch"), Field("MINOR", 15, 8, "minor"), Field("MAJOR", 23, 16, "major")], reset=0x0000_0100),
    Reg("BUILD", "RO", "emulator/model build id (low 32 bits of its hash)"),
    Reg("BOOT_COUNT", "RO", "resets of the core since the session started"),
    Reg("RESET_CAUSE", "RO", "cause of the last reset, a RESET_* constant", fields=[Field("CAUSE", 1, 0, "RESET_* code")]),
    Reg("RESET", "WO", "write SYSCTL_RESET_KEY to reset the core"),
    Reg("POWEROFF", "WO", "power off the SoC; the session exits with CODE", fields=[
        Field("CODE", 7, 0, "exit code"), Field("KEY", 31, 16, "must be SYSCTL_POWEROFF_KEY")]),
    Reg("CORE_CLOCK_HZ", "RO", "control core clock in Hz"),
    Reg("SCRATCH0", "RW", "scratch, survives core reset"),
    Reg("SCRATCH1", "RW", "scratch, survives core reset"),
    Reg("SCRATCH2", "RW", "scratch, survives core reset"),
    Reg("SCRATCH3", "RW", "scratch, survives core reset"),
])

UART = Block("UART", 0x1000_1000, 0x1000, """Serial port: 64-byte TX and RX FIFOs, baud rate modeled in virtual time.

A byte written to DATA leaves the TX FIFO UART_BITS_PER_BYTE bit times later;
bytes from the host enter the RX FIFO at the same rate. A byte arriving with the
RX FIFO full is dropped and sets IRQ_STATUS.RX_OVERRUN. The interrupt line is
the OR of IRQ_STATUS & IRQ_ENABLE; RX_AVAIL and TX_EMPTY are levels, RX_OVERRUN
is sticky until written with 1.""", [
    Reg("DATA", "RW", "write: push a byte to TX (dropped when full); read: pop a byte from RX (0 when empty)",
        fields=[Field("BYTE", 7, 0, "data byte")]),
    Reg("STATUS", "RO", "FIFO state", reset=0b0100, fields=[
        Field("RX_AVAIL", 0, 0, "RX FIFO not empty"), Field("TX_FULL", 1, 1, "TX FIFO full"),
        Field("TX_EMPTY", 2, 2, "TX FIFO empty and shifter idle"), Field("RX_FULL", 3, 3, "RX FIFO full")]),
    Reg("RX_LEVEL", "RO", "bytes in the RX FIFO"),
    Reg("TX_LEVEL", "RO", "bytes in the TX FIFO"),
    Reg("IRQ_ENABLE", "RW", "interrupt enables", fields=[
        Field("RX_AVAIL", 0, 0, "RX data available"), Field("TX_EMPTY", 1, 1, "TX FIFO empty"),
        Field("RX_OVERRUN", 2, 2, "RX overrun")]),
    Reg("IRQ_STATUS", "W1C", "pending interrupt causes (RX_OVERRUN is cleared by writing 1)", fields=[
        Field("RX_AVAIL", 0, 0, "RX data available"), Field("TX_EMPTY", 1, 1, "TX FIFO empty"),
        Field("RX_OVERRUN", 2, 2, "a received byte was dropped")]),
    Reg("BAUD", "RW", "baud rate in bits per second", reset=115200),
])

TIMER = Block("TIMER", 0x1000_2000, 0x1000, """CLINT-style machine timer.

MTIME counts control-core cycles of virtual time (it is the deterministic clock;
the core's cycle/time CSRs must not be used). The machine timer interrupt
(mip.MTIP, cause MCAUSE_MTI) is pending while MTIME >= MTIMECMP. MSIP raises the
machine software interrupt.""", [
    Reg("MTIME_LO", "RO", "virtual time in core cycles, low word (reading it latches MTIME_HI)"),
    Reg("MTIME_HI", "RO", "virtual time, high word"),
    Reg("MTIMECMP_LO", "RW", "timer compare, low word", reset=0xFFFF_FFFF),
    Reg("MTIMECMP_HI", "RW", "timer compare, high word", reset=0xFFFF_FFFF),
    Reg("MSIP", "RW", "machine software interrupt pending", fields=[Field("PENDING", 0, 0, "raise MSI")]),
])

INTC = Block("INTC", 0x1000_3000, 0x1000, """Interrupt controller: routes every device line to the core's external interrupt.

Lines are level-sensitive: PENDING mirrors the device lines, and mip.MEIP is set
while PENDING & ENABLE is non-zero. CLAIM reads the lowest pending enabled
source number plus one (0 when none); the device clears its own line.""", [
    Reg("PENDING", "RO", "device interrupt lines, bit n = source n (IRQ_* constants)"),
    Reg("ENABLE", "RW", "per-source enable"),
    Reg("CLAIM", "RO", "lowest pending enabled source + 1, or 0"),
])

WDT = Block("WDT", 0x1000_4000, 0x1000, """Watchdog: resets the core when not kicked within TIMEOUT core cycles.

Once enabled it counts down from TIMEOUT; writing WDT_KICK_KEY to KICK reloads
it. At half the timeout it raises IRQ_WDT (warning); at zero it resets the core
with RESET_WATCHDOG. Disabling needs the kick key in CTRL.KEY.""", [
    Reg("CTRL", "RW", "control", fields=[Field("ENABLE", 0, 0, "watchdog running"),
        Field("KEY", 31, 16, "WDT_DISABLE_KEY when clearing ENABLE; other writes clearing it are ignored")]),
    Reg("TIMEOUT", "RW", "timeout in core cycles", reset=0x0100_0000),
    Reg("KICK", "WO", "write WDT_KICK_KEY to reload"),
    Reg("COUNT", "RO", "core cycles left before reset"),
    Reg("STATUS", "W1C", "status", fields=[Field("WARN", 0, 0, "half the timeout elapsed; write 1 to clear")]),
])

ACCEL = Block("ACCEL", 0x1000_5000, 0x1000, """Accelerator identity and configuration of the revision profile, and SRAM ECC status.

The information registers are read-only and filled from the revision profile;
firmware reads them to plan tiling.""", [
    Reg("PROFILE_ID", "RO", "revision profile number"),
    Reg("ARRAY_ROWS", "RO", "tensor core array rows"),
    Reg("ARRAY_COLS", "RO", "tensor core array columns"),
    Reg("VECTOR_WIDTH", "RO", "vector unit width in bytes (requantization lanes)"),
    Reg("SRAM_SIZE", "RO", "scratchpad size in bytes"),
    Reg("SRAM_BANKS", "RO", "scratchpad banks"),
    Reg("DRAM_SIZE", "RO", "device DRAM size in bytes"),
    Reg("DMA_CHANNELS", "RO", "DMA channels present"),
    Reg("DMA_BYTES_PER_CYCLE", "RO", "DMA bandwidth in bytes per accelerator cycle"),
    Reg("CLOCK_HZ", "RO", "accelerator clock in Hz"),
    Reg("ECC_STATUS", "W1C", "SRAM ECC", fields=[Field("ERR", 0, 0, "an ECC error was read; write 1 to clear")]),
    Reg("ECC_ADDR", "RO", "address of the last ECC error"),
    Reg("VECTOR_LANES", "RO", "vector unit (VECTOR block) int8 lanes per cycle"),
])

_DMA_CHANNEL = [
    Reg("SRC", "RW", "channel {n} source address"),
    Reg("DST", "RW", "channel {n} destination address"),
    Reg("LEN", "RW", "channel {n} bytes per row"),
    Reg("ROWS", "RW", "channel {n} row count (>= 1)", reset=1),
    Reg("SRC_STRIDE", "RW", "channel {n} bytes between source row starts"),
    Reg("DST_STRIDE", "RW", "channel {n} bytes between destination row starts"),
    Reg("NEXT", "RW", "channel {n} address of the next in-memory descriptor (DMA_DESC_WORDS words, in SRAM or DRAM), 0 for none"),
    Reg("CTRL", "RW", "channel {n} control", fields=[
        Field("START", 0, 0, "start (self-clearing)"), Field("IRQ_EN", 1, 1, "completion interrupt enable"),
        Field("SPILL", 2, 2, "count this transfer as a spill"), Field("ABORT", 3, 3, "abort (self-clearing)")]),
    Reg("STATUS", "W1C", "channel {n} status", fields=list(_STATUS_FIELDS)),
]
_DMA_CHANNEL_STRIDE = 0x40

DMA = Block("DMA", 0x1001_0000, 0x1000, """Descriptor DMA engine: 2-D copies between DRAM and SRAM on up to four channels.

A transfer moves ROWS rows of LEN bytes from SRC (rows SRC_STRIDE apart) to DST
(rows DST_STRIDE apart). Both ranges must lie wholly inside SRAM or DRAM; a
descriptor that reaches outside completes with STATUS.ERR, ERR_BOUNDS and
IRQ_DMA_ERR and touches no memory. Time follows the profile's bandwidth in bytes
per cycle, shared by the active channels. When NEXT is non-zero the channel
loads the next descriptor from memory and continues (a chain); the completion
interrupt fires at the end of the chain.""",
    repeated("CH", 4, _DMA_CHANNEL, stride=_DMA_CHANNEL_STRIDE))

TENSOR = Block("TENSOR", 0x1002_0000, 0x1000, """Tensor core: int8 x int8 -> int32 GEMM on SRAM operands with fused requantization.

C[M,N] = requant(A[M,K] x B[K,N] + bias[N]). A and B are int8 row-major with row
strides in bytes; bias, MULT and SHIFT are int32 arrays of N entries. In int8
mode each output is saturate8(round((acc * MULT[j]) >> SHIFT[j]) + ZP_OUT), with
rounding half toward +infinity, and ReLU clamps at ZP_OUT; with CTRL.QMODE_TFL
the requantization is TFLite's MultiplyByQuantizedMultiplier (SHIFT signed in
-31..31); int8 outputs are finally clamped to [ACT_MIN, ACT_MAX]. In RAW32 mode
C is the int32 accumulator. Exact semantics: docs/native.md. All operands must lie in
SRAM; time follows the profile's array shape, vector width and clock.""", [
    Reg("CTRL", "RW", "control", fields=[
        Field("START", 0, 0, "start (self-clearing)"), Field("IRQ_EN", 1, 1, "completion interrupt enable"),
        Field("RELU", 2, 2, "apply ReLU"), Field("RAW32", 3, 3, "write the int32 accumulator, no requantization"),
        Field("BIAS_EN", 4, 4, "add the bias array"), Field("ABORT", 5, 5, "abort (self-clearing)"),
        Field("QMODE_TFL", 6, 6, "requantize as TFLite's MultiplyByQuantizedMultiplier (signed SHIFT, positive = left)")]),
    Reg("STATUS", "W1C", "status", fields=list(_STATUS_FIELDS)),
    Reg("M", "RW", "rows of A and C"),
    Reg("N", "RW", "columns of B and C"),
    Reg("K", "RW", "columns of A, rows of B"),
    Reg("A_ADDR", "RW", "address of A (int8)"),
    Reg("B_ADDR", "RW", "address of B (int8)"),
    Reg("C_ADDR", "RW", "address of C (int8, or int32 in RAW32 mode)"),
    Reg("BIAS_ADDR", "RW", "address of the int32 bias array"),
    Reg("MULT_ADDR", "RW", "address of the int32 per-channel multipliers"),
    Reg("SHIFT_ADDR", "RW", "address of the int32 per-channel shifts"),
    Reg("A_STRIDE", "RW", "bytes between rows of A"),
    Reg("B_STRIDE", "RW", "bytes between rows of B"),
    Reg("C_STRIDE", "RW", "bytes between rows of C"),
    Reg("ZP_OUT", "RW", "output zero point, signed 8-bit in the low byte", fields=[Field("ZP", 7, 0, "two's complement")]),
    Reg("ACT_MIN", "RW", "int8 output clamp, lower bound (after ZP_OUT), signed 8-bit in the low byte", reset=0x80,
        fields=[Field("VALUE", 7, 0, "two's complement")]),
    Reg("ACT_MAX", "RW", "int8 output clamp, upper bound (after ZP_OUT), signed 8-bit in the low byte", reset=0x7F,
        fields=[Field("VALUE", 7, 0, "two's complement")]),
])

_I8_LOW_BYTE = [Field("VALUE", 7, 0, "two's complement")]
_INT8_MIN_RESET, _INT8_MAX_RESET = 0x80, 0x7F

VECTOR = Block("VECTOR", 0x1004_0000, 0x1000, """Vector unit: the window and elementwise int8 operations of TFLite Micro, bit for bit.

One operation per START, chosen by OP (VU_OP_*): depthwise convolution, average
and max pooling, Add, Softmax, Fill. Operands lie in SRAM in NHWC layout with
channels contiguous: pixel (h, w) of a tensor starts at ADDR + h*ROW_STRIDE +
w*PIX_STRIDE. Window taps outside the IN_H x IN_W tile are padding and are
skipped, as TFLite Micro skips them. Signed registers hold 32-bit two's
complement values; ZP_OUT, ACT_MIN and ACT_MAX are signed 8-bit in the low byte.
Time follows the profile's [vector] lanes. Arithmetic, register use per op and
validation order: docs/accelerator.md.""", [
    Reg("CTRL", "RW", "control", fields=[
        Field("START", 0, 0, "start (self-clearing)"), Field("IRQ_EN", 1, 1, "completion interrupt enable"),
        Field("ABORT", 2, 2, "abort (self-clearing)")]),
    Reg("STATUS", "W1C", "status", fields=list(_STATUS_FIELDS)),
    Reg("OP", "RW", "operation, a VU_OP_* constant"),
    Reg("IN_H", "RW", "input tile height (pixels)", reset=1),
    Reg("IN_W", "RW", "input tile width (pixels)", reset=1),
    Reg("C", "RW", "channels (of the input; DWCONV writes C * DEPTH_MULT)", reset=1),
    Reg("OUT_H", "RW", "output height (pixels)", reset=1),
    Reg("OUT_W", "RW", "output width (pixels)", reset=1),
    Reg("K_H", "RW", "window height", reset=1),
    Reg("K_W", "RW", "window width", reset=1),
    Reg("STRIDE_H", "RW", "window step down", reset=1),
    Reg("STRIDE_W", "RW", "window step right", reset=1),
    Reg("PAD_T", "RW", "rows of implicit padding above the tile (window row 0 starts at -PAD_T)"),
    Reg("PAD_L", "RW", "columns of implicit padding left of the tile"),
    Reg("DEPTH_MULT", "RW", "DWCONV output channels per input channel", reset=1),
    Reg("IN_ADDR", "RW", "address of the (first) input, int8"),
    Reg("IN2_ADDR", "RW", "address of ADD's second input, int8"),
    Reg("OUT_ADDR", "RW", "address of the output, int8"),
    Reg("W_ADDR", "RW", "address of DWCONV's int8 weights [K_H][K_W][C*DEPTH_MULT]"),
    Reg("BIAS_ADDR", "RW", "address of DWCONV's int32 bias per output channel, 0 for none"),
    Reg("MULT_ADDR", "RW", "address of DWCONV's int32 multipliers per output channel"),
    Reg("SHIFT_ADDR", "RW", "address of DWCONV's int32 signed shifts per output channel"),
    Reg("IN_ROW_STRIDE", "RW", "bytes between input rows"),
    Reg("IN_PIX_STRIDE", "RW", "bytes between input pixels of a row"),
    Reg("IN2_ROW_STRIDE", "RW", "bytes between rows of the second input"),
    Reg("IN2_PIX_STRIDE", "RW", "bytes between pixels of the second input"),
    Reg("OUT_ROW_STRIDE", "RW", "bytes between output rows"),
    Reg("OUT_PIX_STRIDE", "RW", "bytes between output pixels of a row"),
    Reg("ZP_IN", "RW", "input offset added to every input byte: TFLite's input_offset = -(input zero point), signed"),
    Reg("ZP_IN2", "RW", "second input's offset = -(its zero point), signed"),
    Reg("ZP_OUT", "RW", "output zero point (FILL: the byte written), signed 8-bit in the low byte", fields=list(_I8_LOW_BYTE)),
    Reg("ACT_MIN", "RW", "output clamp, lower bound, signed 8-bit in the low byte", reset=_INT8_MIN_RESET,
        fields=list(_I8_LOW_BYTE)),
    Reg("ACT_MAX", "RW", "output clamp, upper bound, signed 8-bit in the low byte", reset=_INT8_MAX_RESET,
        fields=list(_I8_LOW_BYTE)),
    Reg("IN_MULT", "RW", "ADD: input1_multiplier; SOFTMAX: input_multiplier (>= 0)"),
    Reg("IN_SHIFT", "RW", "ADD: input1_shift (-31..0); SOFTMAX: input_left_shift (0..31), signed"),
    Reg("IN2_MULT", "RW", "ADD: input2_multiplier (>= 0)"),
    Reg("IN2_SHIFT", "RW", "ADD: input2_shift (-31..0), signed"),
    Reg("OUT_MULT", "RW", "ADD: output_multiplier (>= 0)"),
    Reg("OUT_SHIFT", "RW", "ADD: output_shift (-31..0), signed"),
    Reg("LEFT_SHIFT", "RW", "ADD: left_shift applied to both offset inputs (0..VU_MAX_LEFT_SHIFT; TFLite uses 20)"),
    Reg("DIFF_MIN", "RW", "SOFTMAX: diff_min (<= 0), signed; inputs further below the row max output -128"),
])

_COUNTERS = [
    ("CYCLES", "accelerator cycles since the counters were cleared"),
    ("TC_BUSY", "cycles the tensor core was busy"),
    ("DMA_BUSY", "cycles at least one DMA channel was busy"),
    ("OVERLAP", "cycles the DMA was busy together with the tensor core or the vector unit"),
    ("MACS", "int8 multiply-accumulates performed"),
    ("DMA_TO_SRAM", "bytes DMA wrote into SRAM"),
    ("DMA_TO_DRAM", "bytes DMA wrote into DRAM"),
    ("SRAM_RD", "bytes read from SRAM (tensor core, vector unit and DMA)"),
    ("SRAM_WR", "bytes written to SRAM (tensor core, vector unit and DMA)"),
    ("DRAM_RD", "bytes read from DRAM by DMA"),
    ("DRAM_WR", "bytes written to DRAM by DMA"),
    ("SPILLS", "DMA transfers marked CTRL.SPILL"),
    ("SPILL_BYTES", "bytes moved by spill transfers"),
    ("ENERGY_NJ", "energy in nanojoules (dynamic + static), from the profile's energy model"),
    ("TC_SRAM_RD", "bytes the tensor core read from SRAM (operands and per-channel arrays; part of SRAM_RD)"),
    ("VU_BUSY", "cycles the vector unit was busy"),
    ("VU_OPS", "vector unit lane operations performed (one per active lane per cycle)"),
    ("VU_SRAM_RD", "bytes the vector unit read from SRAM (operands and per-channel arrays; part of SRAM_RD)"),
    ("COMPUTE_BUSY", "cycles the tensor core or the vector unit (or both) was busy"),
]
PERF_COUNTER_NAMES = tuple(n for n, _ in _COUNTERS)

PERF = Block("PERF", 0x1003_0000, 0x1000, """Performance counters: 64-bit, free-running, cleared together.

Each counter is a LO/HI pair; reading LO latches HI. SRAM hit rate and
DMA/compute overlap are derived from them as documented in
docs/performance-counters.md.""", [
    Reg("CTRL", "RW", "control", reset=1, fields=[
        Field("ENABLE", 0, 0, "counting"), Field("CLEAR", 1, 1, "clear all counters (self-clearing)")]),
] + [Reg(f"{n}_{half}", "RO", f"{doc} ({'low' if half == 'LO' else 'high'} word)") for n, doc in _COUNTERS for half in ("LO", "HI")])

SOC = SocMap((SYSCTL, UART, TIMER, INTC, WDT, ACCEL, DMA, TENSOR, PERF, VECTOR))
