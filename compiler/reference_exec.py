"""Reference execution of a model image: the device's LOAD_MODEL checks and the layer-by-layer tensor core semantics.

This is the host's statement of what the firmware must compute, bit for bit:
the firmware's results (emulator or board) are checked against it. It walks the
layer table in a memory window (pyOCD style: it takes the memory, not a device)
and runs each layer with `gemm_layer`, a numpy statement of the tensor core
arithmetic (docs/model-format.md section 4, the same as docs/native.md; kept here
so hostd does not need the compiled native library, and cross-checked against
native's reference and C kernel in tests/compiler). Validation follows
docs/model-format.md section 3 and raises `ModelInvalid(code, layer)` with the
MODEL_ERR_* the device puts in its BAD_MODEL NACK.

Usage:
    mem = np.zeros(window_size, np.uint8); mem[off:off+len(image)] = image
    table = validate(mem, off, expect_crc=crc, expect_hash=h)      # raises ModelInvalid
    out = execute(mem, off, rows)                                  # writes every layer's output in mem, returns the last
    y = run_image(image, x_int8)                                   # convenience: a private window
"""

from __future__ import annotations

import zlib

import numpy as np

from firmware import protocol_v1 as P
from compiler.model_format import ModelHeader, ModelTable, model_hash
from hostd.protocol import ModelErr

TC_MAX_DIM = 0xFFFF
INT32 = np.dtype("<i4")
INT8_MIN, INT8_MAX = -128, 127


def gemm_layer(a, b, bias=None, mult=None, shift=None, zp_out: int = 0, relu: bool = False,
               raw32: bool = False) -> np.ndarray:
    """One tensor core operation, exactly: int32 accumulator (wrapping), then RAW32 or int8 requantization."""
    acc = np.asarray(a, np.int64) @ np.asarray(b, np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)[None, :]
    acc = acc.astype(np.int32).astype(np.int64)                 # wrap at 32 bits
    if raw32:
        return (np.maximum(acc, 0) if relu else acc).astype(np.int32)
    s = np.asarray(shift, np.int64)[None, :]
    v = acc * np.asarray(mult, np.int64)[None, :]                # |v| < 2^62
    half = np.left_shift(np.int64(1), np.maximum(s - 1, 0))
    v = np.where(s > 0, (v + np.where(s > 0, half, 0)) >> s, v)  # round half toward +inf (arithmetic shift)
    v = v + zp_out
    if relu:
        v = np.maximum(v, zp_out)
    return np.clip(v, INT8_MIN, INT8_MAX).astype(np.int8)


class ModelInvalid(Exception):
    def __init__(self, code: ModelErr, layer: int, message: str):
        super().__init__(f"model invalid ({ModelErr(code).name}, layer {layer}): {message}")
        self.code, self.layer = ModelErr(code), layer

    @property
    def detail(self) -> int:
        return self.layer << 16 | self.code


def validate(mem: np.ndarray, base: int, expect_crc: int | None = None, expect_hash: bytes | None = None):
    """The LOAD_MODEL checks on the image at mem[base:]; returns the parsed table."""
    raw = bytes(mem[base:base + P.MODEL_HEADER_SIZE])
    if len(raw) < P.MODEL_HEADER_SIZE or int.from_bytes(raw[:4], "little") != P.MODEL_MAGIC:
        raise ModelInvalid(ModelErr.MAGIC, 0, "no model magic at the base address")
    h = ModelHeader.parse(raw)
    if h.format_version != P.MODEL_FORMAT_VERSION:
        raise ModelInvalid(ModelErr.VERSION, 0, f"format version {h.format_version}, expected {P.MODEL_FORMAT_VERSION}")
    table_end = P.MODEL_HEADER_SIZE + h.layer_count * P.LAYER_ENTRY_SIZE
    if (h.header_size != P.MODEL_HEADER_SIZE or h.entry_size != P.LAYER_ENTRY_SIZE or h.image_size > h.footprint
            or h.image_size < table_end or base + h.footprint > len(mem)):
        raise ModelInvalid(ModelErr.SIZE, 0, f"sizes disagree (header {h.header_size}, entry {h.entry_size}, image "
                           f"{h.image_size}, footprint {h.footprint}, window {len(mem) - base} from the base)")
    image = bytes(mem[base:base + h.image_size])
    if expect_crc is not None and zlib.crc32(image) != expect_crc:
        raise ModelInvalid(ModelErr.CRC, 0, f"image CRC32 0x{zlib.crc32(image):08x} != 0x{expect_crc:08x}")
    if expect_hash is not None and bytes(h.hash) != bytes(expect_hash):
        raise ModelInvalid(ModelErr.HASH, 0, "header hash differs from the requested one")
    if not 1 <= h.layer_count <= P.MAX_LAYERS:
        raise ModelInvalid(ModelErr.LAYERS, 0, f"{h.layer_count} layers, expected 1..{P.MAX_LAYERS}")
    table = ModelTable.parse(image)
    prev = None
    for i, l in enumerate(table.layers):
        if l.op != P.LAYER_OP_GEMM or l.flags & ~P.LAYER_FLAGS_VALID:
            raise ModelInvalid(ModelErr.OP, i, f"op {l.op} flags 0x{l.flags:02x}")
        if not (1 <= l.m <= TC_MAX_DIM and 1 <= l.n <= TC_MAX_DIM and 1 <= l.k <= TC_MAX_DIM) or l.m != h.max_rows \
                or (prev is not None and (l.k != prev.n or l.a_offset != prev.c_offset)) \
                or l.a_stride < l.k or l.b_stride < l.n or l.c_stride < l.n * _out_bytes(l):
            raise ModelInvalid(ModelErr.SHAPE, i, f"M={l.m} N={l.n} K={l.k} does not fit the chain or the strides")
        for off, size, limit in _operands(l, h):
            if off < (table_end if limit == h.image_size else 0) or off + size > limit:
                raise ModelInvalid(ModelErr.RANGE, i, f"operand at offset {off} (+{size}) outside [0, {limit})")
        prev = l
    return table


def _out_bytes(layer) -> int:
    return INT32.itemsize if layer.flags & P.LAYER_FLAG_RAW32 else 1


def _operands(l, h):
    """(offset, size, limit) of every operand: constants inside the image, activations inside the footprint."""
    n4 = l.n * INT32.itemsize
    ops = [(l.a_offset, (l.m - 1) * l.a_stride + l.k, h.footprint),
           (l.c_offset, (l.m - 1) * l.c_stride + l.n * _out_bytes(l), h.footprint),
           (l.b_offset, (l.k - 1) * l.b_stride + l.n, h.image_size)]
    if l.flags & P.LAYER_FLAG_BIAS:
        ops.append((l.bias_offset, n4, h.image_size))
    if not l.flags & P.LAYER_FLAG_RAW32:
        ops += [(l.mult_offset, n4, h.image_size), (l.shift_offset, n4, h.image_size)]
    return ops


def _matrix(mem: np.ndarray, off: int, rows: int, cols: int, stride: int) -> np.ndarray:
    """An int8 [rows, cols] copy of a strided matrix in mem (bounds were validated)."""
    return np.lib.stride_tricks.as_strided(mem[off:], shape=(rows, cols), strides=(stride, 1)).copy().view(np.int8)


def execute(mem: np.ndarray, base: int, rows: int, table=None) -> np.ndarray:
    """Run every layer for `rows` rows in place; returns the last layer's output [rows, N]."""
    table = table if table is not None else validate(mem, base)
    if not 1 <= rows <= table.header.max_rows:
        raise ValueError(f"rows {rows} outside 1..{table.header.max_rows}")
    out = None
    for l in table.layers:
        a = _matrix(mem, base + l.a_offset, rows, l.k, l.a_stride)
        b = _matrix(mem, base + l.b_offset, l.k, l.n, l.b_stride)
        vec = lambda off: mem[base + off:base + off + l.n * INT32.itemsize].view(INT32)  # noqa: E731
        raw32 = bool(l.flags & P.LAYER_FLAG_RAW32)
        out = gemm_layer(a, b, bias=vec(l.bias_offset) if l.flags & P.LAYER_FLAG_BIAS else None,
                                mult=None if raw32 else vec(l.mult_offset), shift=None if raw32 else vec(l.shift_offset),
                                zp_out=l.zp_out, relu=bool(l.flags & P.LAYER_FLAG_RELU), raw32=raw32)
        row_bytes = out.shape[1] * out.itemsize
        for i in range(rows):
            start = base + l.c_offset + i * l.c_stride
            mem[start:start + row_bytes] = out[i].view(np.uint8)
    return out


def run_image(image: bytes, x: np.ndarray) -> np.ndarray:
    """Execute a model image on int8 inputs [rows, K] in a private memory; rows may exceed max_rows (batched)."""
    table = ModelTable.parse(image)
    h = table.header
    mem = np.zeros(h.footprint, np.uint8)
    mem[:len(image)] = np.frombuffer(image, np.uint8)
    validate(mem, 0, expect_hash=model_hash(image))
    x = np.asarray(x, np.int8)
    outs = []
    for start in range(0, len(x), h.max_rows):
        chunk = x[start:start + h.max_rows]
        mem[h.input_offset:h.input_offset + chunk.size] = chunk.reshape(-1).view(np.uint8)
        outs.append(execute(mem, 0, len(chunk), table))
    return np.concatenate(outs)

