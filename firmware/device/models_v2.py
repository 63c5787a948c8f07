"""Model images of format version 2 (command streams): LOAD_MODEL's v2 checks and the per-slot stream facts.

Portable logic over DRAM reads, beside `models` (which runs the checks both
versions share: magic, version, sizes, window, CRC, hash, then calls
`v2_validate`). The order is docs/model-format.md "Device validation": layer
count (MODEL_ERR_LAYERS), DMA channels and SRAM bytes against the ACCEL profile
(MODEL_ERR_PROFILE), the command stream's and the input/output buffers' ranges
(MODEL_ERR_RANGE), then every command (`cmd_check`: MODEL_ERR_OP, MODEL_ERR_CMD;
the BAD_MODEL detail carries the command index, mod 65536, in its layer field).
A CMD_WRITE may reach only the registers of a DMA channel the stream declares,
the TENSOR registers or the VECTOR block. `v2_bind` keeps the validated header
facts of a slot in RAM, so RUN never re-reads a header the host may have
overwritten; the interpreter (`stream`) re-checks each command as it runs it.

Usage:
    code = v2_validate(base, image_size, footprint)     # 0, or index << 16 | MODEL_ERR_*
    v2_bind(slot, base); v2_unbind(slot); slot_is_v2(slot)
    if cmd_check(addr, layers, channels) != 0: ...       # one 12-byte command at addr
    cmd_fields_check(op, reloc, arg, addr, value, layers, channels)   # the same on fields already read
"""

from firmware.rt import u8, u32, array, const
from firmware.regs import DMA, TENSOR, VECTOR
from dram import rd8, rd16, rd32
from hw import prof, wdt_kick
from firmware.protocol_v1 import (MAX_MODELS, MODEL_HEADER_SIZE, MAX_LAYERS_V2, MAX_CMDS, CMD_SIZE, CMD_WRITE,
                                  CMD_WAIT, CMD_LAYER, RELOC_OUTPUT, WAIT_MASK_VALID, MODEL_ERR_LAYERS,
                                  MODEL_ERR_PROFILE, MODEL_ERR_RANGE, MODEL_ERR_OP, MODEL_ERR_CMD)

# v2 header fields (docs/model-format.md "Version 2")
HDR_LAYERS = const(8)
HDR_MAX_ROWS = const(20)
HDR_DMA_CHANNELS = const(22)
HDR_INPUT = const(24)
HDR_INPUT_ROW = const(28)
HDR_OUTPUT = const(32)
HDR_OUTPUT_ROW = const(36)
HDR_CMD_OFFSET = const(84)
HDR_CMD_COUNT = const(88)
HDR_SRAM_BYTES = const(92)
# command fields
CMD_RELOC = const(1)
CMD_ARG = const(2)
CMD_ADDR = const(4)
CMD_VALUE = const(8)
MAX_DMA_CHANNELS = const(4)                       # WAIT bits 0..3
WAIT_DMA_BITS = const(0x0F)
DMA_CH_STRIDE = const(DMA.CH1_SRC.addr - DMA.CH0_SRC.addr)
DMA_CH_REGS = const(DMA.CH0_STATUS.addr + 4 - DMA.CH0_SRC.addr)    # bytes of one channel's registers
DMA_FIRST = const(DMA.CH0_SRC.addr)
TENSOR_REGS = const(TENSOR.size)                                 # the whole block: writes to its gaps are ignored
WORD_MASK = const(3)
CHECK_KICK = const(4096)                          # commands checked between two watchdog kicks
INDEX_MASK = const(0xFFFF)
LAYER_SHIFT = const(16)

v2_used = array(u8, MAX_MODELS)
v2_cmds_a = array(u32, MAX_MODELS)                # absolute address of command 0
v2_count_a = array(u32, MAX_MODELS)
v2_input_a = array(u32, MAX_MODELS)               # absolute address of the input buffer
v2_in_row_a = array(u32, MAX_MODELS)
v2_output_a = array(u32, MAX_MODELS)
v2_out_row_a = array(u32, MAX_MODELS)
v2_channels_a = array(u32, MAX_MODELS)


def write_ok(addr: u32, channels: u32) -> bool:
    """A CMD_WRITE target: 4-aligned, a register of a declared DMA channel, of TENSOR, or in the VECTOR block."""
    if addr & WORD_MASK != 0:
        return False
    if addr >= DMA_FIRST and addr - DMA_FIRST < channels * DMA_CH_STRIDE:
        return (addr - DMA_FIRST) % DMA_CH_STRIDE < DMA_CH_REGS
    if addr >= TENSOR.base and addr - TENSOR.base < TENSOR_REGS:
        return True
    return addr >= VECTOR.base and addr - VECTOR.base < VECTOR.size


def cmd_check(c: u32, layers: u32, channels: u32) -> u32:
    """0 when the command at c is well-formed, else MODEL_ERR_OP or MODEL_ERR_CMD."""
    return cmd_fields_check(rd8(c), rd8(c + CMD_RELOC), rd16(c + CMD_ARG), rd32(c + CMD_ADDR), rd32(c + CMD_VALUE),
                            layers, channels)


def cmd_fields_check(op: u32, reloc: u32, arg: u32, addr: u32, value: u32, layers: u32, channels: u32) -> u32:
    """`cmd_check` on a command's fields already read (the interpreter reads each command once)."""
    if op == CMD_WRITE:
        if arg != 0:
            return MODEL_ERR_OP
        if reloc > RELOC_OUTPUT or not write_ok(addr, channels):
            return MODEL_ERR_CMD
        return 0
    if op != CMD_WAIT and op != CMD_LAYER:
        return MODEL_ERR_OP
    if reloc != 0 or addr != 0 or value != 0:
        return MODEL_ERR_OP
    if op == CMD_WAIT:
        if arg == 0 or arg & (0xFFFF ^ WAIT_MASK_VALID) != 0 or arg & WAIT_DMA_BITS >= u32(1) << channels:
            return MODEL_ERR_CMD
    elif arg >= layers:
        return MODEL_ERR_CMD
    return 0


def span_ok(off: u32, rows: u32, row_bytes: u32, limit: u32) -> bool:
    """[off, off + rows * row_bytes) inside [0, limit), without overflow."""
    if off > limit:
        return False
    return row_bytes == 0 or rows <= (limit - off) // row_bytes


def v2_validate(base: u32, img: u32, footprint: u32) -> u32:
    """The v2 checks after the shared ones (magic .. hash): 0, or (index << 16) | MODEL_ERR_*."""
    layers: u32 = rd16(base + HDR_LAYERS)
    if layers == 0 or layers > MAX_LAYERS_V2:
        return MODEL_ERR_LAYERS
    channels: u32 = rd16(base + HDR_DMA_CHANNELS)
    if channels > prof.dma_channels or channels > MAX_DMA_CHANNELS or rd32(base + HDR_SRAM_BYTES) > prof.sram_size:
        return MODEL_ERR_PROFILE
    off: u32 = rd32(base + HDR_CMD_OFFSET)
    n: u32 = rd32(base + HDR_CMD_COUNT)
    rows: u32 = rd16(base + HDR_MAX_ROWS)
    if (off & WORD_MASK != 0 or off < MODEL_HEADER_SIZE or off > img or n == 0 or n > MAX_CMDS
            or n > (img - off) // CMD_SIZE or rows == 0
            or not span_ok(rd32(base + HDR_INPUT), rows, rd32(base + HDR_INPUT_ROW), footprint)
            or not span_ok(rd32(base + HDR_OUTPUT), rows, rd32(base + HDR_OUTPUT_ROW), footprint)):
        return MODEL_ERR_RANGE
    for i in range(n):
        code: u32 = cmd_check(base + off + i * CMD_SIZE, layers, channels)
        if code != 0:
            return ((i & INDEX_MASK) << LAYER_SHIFT) | code
        if i % CHECK_KICK == CHECK_KICK - 1:
            wdt_kick()
    return 0


def v2_bind(s: u32, base: u32) -> None:
    """Keep the validated header facts of the v2 model now in slot s."""
    v2_used[s] = 1
    v2_cmds_a[s] = base + rd32(base + HDR_CMD_OFFSET)
    v2_count_a[s] = rd32(base + HDR_CMD_COUNT)
    v2_input_a[s] = base + rd32(base + HDR_INPUT)
    v2_in_row_a[s] = rd32(base + HDR_INPUT_ROW)
    v2_output_a[s] = base + rd32(base + HDR_OUTPUT)
    v2_out_row_a[s] = rd32(base + HDR_OUTPUT_ROW)
    v2_channels_a[s] = rd16(base + HDR_DMA_CHANNELS)


def v2_unbind(s: u32) -> None:
    v2_used[s] = 0


def slot_is_v2(s: u32) -> bool:
    return v2_used[s] != 0


def v2_cmds(s: u32) -> u32:
    return v2_cmds_a[s]


def v2_count(s: u32) -> u32:
    return v2_count_a[s]


def v2_input(s: u32) -> u32:
    return v2_input_a[s]


def v2_in_row(s: u32) -> u32:
    return v2_in_row_a[s]


def v2_output(s: u32) -> u32:
    return v2_output_a[s]


def v2_out_row(s: u32) -> u32:
    return v2_out_row_a[s]


def v2_channels(s: u32) -> u32:
    return v2_channels_a[s]
