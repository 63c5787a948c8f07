"""A minimal builder of model images of format version 2 (command streams), for the device tests only.

The layout is the compiler's declaration (compiler/image.py: the 96-byte
header, 12-byte commands); this module adds what the device tests need around
it: a builder that can also write malformed images, and a `Stream` helper that
emits CMD_WRITE / CMD_WAIT / CMD_LAYER with the register addresses of
`firmware.regs`. `gemm_stream_image` builds the test workload: per row, DMA the
input row and the weights into SRAM, one GEMM on the TENSOR unit, DMA the result
to the output row; `gemm_reference` is the same arithmetic in numpy
(docs/model-format.md section 4).

Usage:
    img = gemm_stream_image(rng, k=24, n=16, max_rows=4)
    img.image, img.crc, img.hash, img.input_offset, img.output_offset
    y = gemm_reference(x, img.params)
    build_v2(header_fields, consts, stream.cmds) -> bytes
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from firmware import protocol_v1 as P
from firmware.regs import DMA, TENSOR
from compiler.image import Command, ModelHeaderV2 as V2Header
from compiler.model_format import model_hash


SRAM = 0x2000_0000
DMA_GO = DMA.CH0_CTRL.START.mask | DMA.CH0_CTRL.IRQ_EN.mask
TC_GO = TENSOR.CTRL.START.mask | TENSOR.CTRL.IRQ_EN.mask
ALIGN = 64


def _al(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class Stream:
    """Commands as dicts of `Command`; registers named by firmware.regs references."""

    cmds: list = field(default_factory=list)

    def write(self, reg, value: int, reloc: int = P.RELOC_NONE) -> "Stream":
        addr = reg if isinstance(reg, int) else reg.addr
        self.cmds.append(dict(op=P.CMD_WRITE, reloc=reloc, arg=0, addr=addr, value=value & 0xFFFF_FFFF))
        return self

    def wait(self, mask: int) -> "Stream":
        self.cmds.append(dict(op=P.CMD_WAIT, reloc=0, arg=mask, addr=0, value=0))
        return self

    def layer(self, index: int) -> "Stream":
        self.cmds.append(dict(op=P.CMD_LAYER, reloc=0, arg=index, addr=0, value=0))
        return self

    def dma(self, src: int, dst: int, length: int, src_reloc=P.RELOC_NONE, dst_reloc=P.RELOC_NONE,
            ch: int = 0) -> "Stream":
        """One 1-row transfer on channel ch, then a wait for it."""
        regs = {n: getattr(DMA, f"CH{ch}_{n}") for n in ("SRC", "DST", "LEN", "ROWS", "SRC_STRIDE", "DST_STRIDE",
                                                           "NEXT", "CTRL")}
        self.write(regs["SRC"], src, src_reloc).write(regs["DST"], dst, dst_reloc).write(regs["LEN"], length)
        self.write(regs["ROWS"], 1).write(regs["SRC_STRIDE"], length).write(regs["DST_STRIDE"], length)
        self.write(regs["NEXT"], 0).write(regs["CTRL"], DMA_GO)
        return self.wait(1 << ch)


def build_v2(header: dict, consts: bytes, cmds: list, cmd_offset: int | None = None) -> bytes:
    """Header | constants | command stream (4-aligned), with image_size and the hash filled in."""
    off = cmd_offset if cmd_offset is not None else P.MODEL_HEADER_SIZE + -(-len(consts) // 4) * 4
    body = bytearray(off - P.MODEL_HEADER_SIZE)
    body[:len(consts)] = consts
    stream = b"".join(Command.build(c) for c in cmds)
    fields = dict(format_version=P.MODEL_FORMAT_V2, header_size=P.MODEL_HEADER_SIZE, entry_size=P.CMD_SIZE,
                  input_scale=1.0, output_scale=1.0, input_zp=0, output_zp=0, reserved1=0,
                  hash=bytes(P.MODEL_HASH_SIZE), cmd_offset=off, cmd_count=len(cmds))
    fields.update(header)
    size = off + len(stream)
    fields.setdefault("image_size", size)
    image = V2Header.build(fields) + bytes(body) + stream
    digest = model_hash(image)
    return image[:52] + digest + image[52 + P.MODEL_HASH_SIZE:]


@dataclass
class V2Model:
    image: bytes
    input_offset: int
    output_offset: int
    in_cols: int
    out_cols: int
    max_rows: int
    footprint: int
    params: dict

    @property
    def crc(self) -> int:
        return zlib.crc32(self.image)

    @property
    def hash(self) -> bytes:
        return model_hash(self.image)


def gemm_reference(x: np.ndarray, p: dict) -> np.ndarray:
    """docs/model-format.md section 4 for BIAS | RELU: int32 accumulate, 31-bit multiplier, round half up."""
    acc = (x.astype(np.int64) @ p["b"].astype(np.int64) + p["bias"]).astype(np.int64)
    acc = ((acc + 2 ** 31) % 2 ** 32) - 2 ** 31                       # wraps at 32 bits
    prod = acc * p["mult"].astype(np.int64)
    sh = p["shift"].astype(np.int64)
    r = np.where(sh > 0, (prod + (np.int64(1) << np.maximum(sh - 1, 0))) >> sh, prod)
    y = np.maximum(r + p["zp_out"], p["zp_out"])
    return np.clip(y, -128, 127).astype(np.int8)


def gemm_stream_image(rng, k: int, n: int, max_rows: int, layers: int = 1, extra: Stream | None = None,
                      tail: Stream | None = None, dma_channels: int = 1) -> V2Model:
    """Per row: [extra commands], DMA the input row and the constants into SRAM, GEMM (M = 1, BIAS | RELU), DMA the
    result to the output row, [tail commands]. `layers` > 1 adds CMD_LAYER markers (the GEMM is layer layers-1)."""
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    bias = rng.integers(-2000, 2000, n, dtype=np.int32)
    mult = rng.integers(1 << 29, 1 << 30, n, dtype=np.int32)
    shift = np.full(n, 31 + int(np.ceil(np.log2(max(1, 128 * np.sqrt(k))))) - 6, dtype=np.int32)
    zp_out = int(rng.integers(-10, 10))
    bsize = -(-k * n // 4) * 4
    consts = b.tobytes() + bytes(bsize - k * n) + bias.tobytes() + mult.tobytes() + shift.tobytes()
    const_off = P.MODEL_HEADER_SIZE
    sram_a, sram_w = SRAM, SRAM + _al(k)
    sram_bias = sram_w + bsize
    sram_c = sram_w + _al(len(consts))
    s = Stream()
    for i in range(layers - 1):
        s.layer(i)
    s.layer(layers - 1)
    if extra is not None:
        s.cmds += extra.cmds
    s.dma(0, sram_a, k, src_reloc=P.RELOC_INPUT)
    s.dma(const_off, sram_w, len(consts), src_reloc=P.RELOC_IMAGE)
    for reg, v in ((TENSOR.M, 1), (TENSOR.N, n), (TENSOR.K, k), (TENSOR.A_ADDR, sram_a), (TENSOR.B_ADDR, sram_w),
                   (TENSOR.C_ADDR, sram_c), (TENSOR.BIAS_ADDR, sram_bias), (TENSOR.MULT_ADDR, sram_bias + 4 * n),
                   (TENSOR.SHIFT_ADDR, sram_bias + 8 * n), (TENSOR.A_STRIDE, k), (TENSOR.B_STRIDE, n),
                   (TENSOR.C_STRIDE, n), (TENSOR.ZP_OUT, zp_out & 0xFF)):
        s.write(reg, v)
    s.write(TENSOR.CTRL, TC_GO | TENSOR.CTRL.RELU.mask | TENSOR.CTRL.BIAS_EN.mask)
    s.wait(P.WAIT_TENSOR)
    s.dma(sram_c, 0, n, dst_reloc=P.RELOC_OUTPUT)
    if tail is not None:
        s.cmds += tail.cmds
    cmd_off = const_off + -(-len(consts) // 4) * 4
    image_size = cmd_off + P.CMD_SIZE * len(s.cmds)
    in_off = _al(image_size)
    out_off = in_off + _al(max_rows * k)
    footprint = out_off + _al(max_rows * n)
    header = dict(layer_count=layers, footprint=footprint, max_rows=max_rows, dma_channels=dma_channels,
                  input_offset=in_off, input_row_bytes=k, output_offset=out_off, output_row_bytes=n,
                  sram_bytes=sram_c + _al(n) - SRAM)
    image = build_v2(header, consts, s.cmds, cmd_offset=cmd_off)
    params = dict(b=b, bias=bias, mult=mult, shift=shift, zp_out=zp_out)
    return V2Model(image, in_off, out_off, k, n, max_rows, footprint, params)
