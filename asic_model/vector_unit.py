"""Vector unit (the VECTOR block): TFLite Micro's int8 window and elementwise operators on SRAM, bit for bit.

One operation per CTRL.START, chosen by OP: VU_OP_DWCONV (depthwise convolution),
VU_OP_AVGPOOL, VU_OP_MAXPOOL, VU_OP_ADD, VU_OP_SOFTMAX, VU_OP_FILL. Tensors are
NHWC tiles in SRAM with channels contiguous; pixel (h, w) of the input starts at
IN_ADDR + h*IN_ROW_STRIDE + w*IN_PIX_STRIDE (IN2 and OUT likewise). Window ops
read an IN_H x IN_W tile; the window of output (oh, ow) starts at input row
oh*STRIDE_H - PAD_T and column ow*STRIDE_W - PAD_L, and taps outside the tile
are padding, skipped as TFLite Micro skips them. ADD, SOFTMAX and FILL work on
OUT_H x OUT_W pixels of C channels. The arithmetic is TFLite Micro's reference
kernels (stated once in docs/accelerator.md): DWCONV, the pools and ADD run the
C kernels of native/vu_ops.c on the SRAM buffer in place, SOFTMAX runs numpy
(native/tfl_math.py; its rows are short). The numpy functions at the end of this
module state the same arithmetic and are the oracle the C kernels are tested
against. Results are computed from the operands as they are at completion and
written after every operand was read (in place is fine).

Writing CTRL.START (ignored while BUSY) validates, in this order, failing at
once (no time, no memory touched) with:
1. ERR_OP: OP is not a VU_OP_* code;
2. ERR_SHAPE: a geometry register the op uses outside 1..VU_MAX_DIM (PAD_T and
   PAD_L: 0..VU_MAX_DIM), C*DEPTH_MULT > VU_MAX_DIM, a window of a window op
   with no tap inside the tile (PAD_T >= K_H, PAD_L >= K_W, or the last window
   starting at or below/right of the tile's end), SOFTMAX with C >
   VU_SOFTMAX_MAX_C, or output pixels/rows that overlap each other
   (OUT_PIX_STRIDE < output channels with OUT_W > 1, OUT_ROW_STRIDE <
   (OUT_W-1)*OUT_PIX_STRIDE + output channels with OUT_H > 1);
3. ERR_ALIGN: DWCONV's BIAS_ADDR (when not 0), MULT_ADDR or SHIFT_ADDR not 4-aligned;
4. ERR_BOUNDS: an operand's span (inputs, output, weights, int32 arrays) not wholly in SRAM;
5. ERR_QPARAM: ACT_MIN > ACT_MAX (DWCONV, pools, ADD); ZP_IN/ZP_IN2 outside
   -127..128 (an int8 zero point negated); a multiplier < 0; DWCONV shifts
   outside -TFL_MAX_SHIFT..TFL_MAX_SHIFT; ADD's IN/IN2/OUT_SHIFT outside
   -TFL_MAX_SHIFT..0 or LEFT_SHIFT outside 0..VU_MAX_LEFT_SHIFT; SOFTMAX's
   IN_SHIFT outside 0..TFL_MAX_SHIFT or DIFF_MIN > 0.
Otherwise BUSY is set for `vu_cost(...).cycles`. At completion an injected ECC
fault in an operand span fails the op with ERR_ECC (nothing written); else the
output is written and DONE set. ABORT ends a busy op with ERR_ABORTED.
IRQ_VECTOR = (DONE | ERR) & CTRL.IRQ_EN.

Cost model (L = profile `vector_lanes`, S = VU_SETUP_CYCLES): window ops run
output pixel by output pixel, ceil(Cout/L) lane groups each, one cycle per
in-bounds tap plus EPILOGUE[op] cycles per group; ADD and FILL stream
ceil(OUT_H*OUT_W*C / L) lane groups of STEPS[op] cycles; SOFTMAX runs
SOFTMAX_PASSES passes of ceil(C/L) groups per pixel plus SOFTMAX_RECIP_CYCLES.
DWCONV also loads its weights and int32 arrays once (ceil(bytes/L) cycles).
Formulas, traffic and lane-op counts: `vu_cost` and docs/accelerator.md.

Usage:
    acc.vector                                  # the device, on the bus at VECTOR.base
    drv.vector_start(VU_OP_ADD, C=16, OUT_H=8, OUT_W=8, IN_ADDR=..., ...)   # asic_model/driver.py
    cost = vu_cost(profile.vector_lanes, VU_OP_DWCONV, {"IN_H": 5, ..., "BIAS": 1})  # cycles, lane_ops, traffic
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

import native
from asic_model.soc_map import CONSTANTS, VECTOR
from asic_model.unit import OneShotUnit
from native.tfl_math import (mbqm_smaller_than_one, multiply_by_quantized_multiplier, softmax_int8, wrap_int32)

ERR = {name: CONSTANTS[name].value for name in
       ("ERR_OP", "ERR_SHAPE", "ERR_ALIGN", "ERR_BOUNDS", "ERR_QPARAM", "ERR_ECC")}
OPS = {CONSTANTS[n].value: n[len("VU_OP_"):] for n in
       ("VU_OP_DWCONV", "VU_OP_AVGPOOL", "VU_OP_MAXPOOL", "VU_OP_ADD", "VU_OP_SOFTMAX", "VU_OP_FILL")}
DWCONV, AVGPOOL, MAXPOOL, ADD, SOFTMAX, FILL = (CONSTANTS[f"VU_OP_{n}"].value for n in
                                                 ("DWCONV", "AVGPOOL", "MAXPOOL", "ADD", "SOFTMAX", "FILL"))
WINDOW_OPS = (DWCONV, AVGPOOL, MAXPOOL)
MAX_DIM = CONSTANTS["VU_MAX_DIM"].value
MAX_LEFT_SHIFT = CONSTANTS["VU_MAX_LEFT_SHIFT"].value
SOFTMAX_MAX_C = CONSTANTS["VU_SOFTMAX_MAX_C"].value
TFL_MAX_SHIFT = CONSTANTS["TFL_MAX_SHIFT"].value
INT8_MIN, INT8_MAX = -128, 127
INPUT_OFFSET_MIN, INPUT_OFFSET_MAX = -INT8_MAX, -INT8_MIN     # -(int8 zero point)
INT32_BYTES = 4
INT32_SIGN = 1 << 31
BYTE, INT8_SIGN = 0xFF, 0x80
MAXPOOL_EMPTY = INT8_MIN - 1          # below every int8: a skipped tap never wins the max

# Cost model constants (cycles); docs/accelerator.md states the formulas.
VU_SETUP_CYCLES = 4                   # decode the registers, fill the address generators
EPILOGUE = {DWCONV: 1, AVGPOOL: 1, MAXPOOL: 0}   # requantize / divide per lane group and pixel
STEPS = {ADD: 3, FILL: 1}             # ADD: rescale input 1, rescale input 2, requantize the sum
SOFTMAX_PASSES = 3                    # row max; exp and sum; exp times the reciprocal
SOFTMAX_RECIP_CYCLES = 8              # the reciprocal of the sum (3 Newton-Raphson steps), once per pixel

_CTRL_BITS = VECTOR.reg("CTRL")


def _i32(v: int) -> int:
    """A register's 32-bit two's-complement value."""
    return v - (1 << 32) if v & INT32_SIGN else v


def _i8(v: int) -> int:
    v &= BYTE
    return v - 0x100 if v & INT8_SIGN else v


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _taps(out: int, stride: int, pad: int, k: int, size: int) -> np.ndarray:
    """In-bounds taps of each window along one axis: |[o*stride - pad, +k) & [0, size)|."""
    start = np.arange(out) * stride - pad
    return np.minimum(start + k, size) - np.maximum(start, 0)


@dataclass(frozen=True)
class VuCost:
    """Modeled cost of one vector operation."""

    cycles: int
    lane_ops: int
    sram_read: int
    sram_write: int


def vu_cost(lanes: int, op: int, g: dict) -> VuCost:
    """Cycles, lane operations and SRAM traffic of one op with geometry `g` (the register values)."""
    P = g["OUT_H"] * g["OUT_W"]
    C = g["C"]
    if op in WINDOW_OPS:
        cout = C * g["DEPTH_MULT"] if op == DWCONV else C
        taps = int(_taps(g["OUT_H"], g["STRIDE_H"], g["PAD_T"], g["K_H"], g["IN_H"]).sum()) \
            * int(_taps(g["OUT_W"], g["STRIDE_W"], g["PAD_L"], g["K_W"], g["IN_W"]).sum())
        e = EPILOGUE[op]
        cycles = VU_SETUP_CYCLES + _ceil(cout, lanes) * (taps + e * P)
        rd, lane_ops = C * taps, cout * (taps + e * P)
        if op == DWCONV:
            params = g["K_H"] * g["K_W"] * cout + INT32_BYTES * (2 + g["BIAS"]) * cout
            cycles += _ceil(params, lanes)
            rd += params
        return VuCost(cycles, lane_ops, rd, P * cout)
    if op == SOFTMAX:
        cycles = VU_SETUP_CYCLES + P * (SOFTMAX_PASSES * _ceil(C, lanes) + SOFTMAX_RECIP_CYCLES)
        return VuCost(cycles, SOFTMAX_PASSES * P * C, SOFTMAX_PASSES * P * C, P * C)
    steps = STEPS[op]
    n = P * C
    return VuCost(VU_SETUP_CYCLES + _ceil(n, lanes) * steps, steps * n, 2 * n if op == ADD else 0, n)


@dataclass(frozen=True)
class Span:
    """A strided HWC operand: SRAM offset, rows x pixels x channels, byte strides."""

    off: int
    rows: int
    pix: int
    ch: int
    row_stride: int
    pix_stride: int

    @property
    def length(self) -> int:
        return (self.rows - 1) * self.row_stride + (self.pix - 1) * self.pix_stride + self.ch

    def view(self, buf: np.ndarray) -> np.ndarray:
        """int8 [rows, pix, ch] view on the SRAM buffer (writable)."""
        return as_strided(buf[self.off:].view(np.int8), (self.rows, self.pix, self.ch),
                          (self.row_stride, self.pix_stride, 1))


@dataclass(frozen=True)
class VuOp:
    """A validated operation: opcode, register values, operand spans and its cost."""

    op: int
    g: dict
    spans: dict          # name -> Span (in, in2, out, w, bias, mult, shift)
    cost: VuCost
    start: int

    @property
    def cycles(self) -> int:
        return self.cost.cycles


class VectorUnit(OneShotUnit):
    """The VECTOR register block and the operation in flight."""

    KIND = "vector"

    def __init__(self, acc):
        super().__init__(acc, VECTOR, "VECTOR")

    # ------------------------------------------------------------ validation
    def _validate(self, ctrl: int) -> VuOp | int:
        v = self.values
        op = v["OP"]
        if op not in OPS:
            return ERR["ERR_OP"]
        g = {k: v[k] for k in ("IN_H", "IN_W", "C", "OUT_H", "OUT_W", "K_H", "K_W", "STRIDE_H", "STRIDE_W",
                               "PAD_T", "PAD_L", "DEPTH_MULT")}
        g["BIAS"] = int(op == DWCONV and v["BIAS_ADDR"] != 0)
        cout = g["C"] * (g["DEPTH_MULT"] if op == DWCONV else 1)
        used = ["C", "OUT_H", "OUT_W"]
        if op in WINDOW_OPS:
            used += ["IN_H", "IN_W", "K_H", "K_W", "STRIDE_H", "STRIDE_W"] + (["DEPTH_MULT"] if op == DWCONV else [])
        if any(not 1 <= g[k] <= MAX_DIM for k in used) or cout > MAX_DIM:
            return ERR["ERR_SHAPE"]
        if op in WINDOW_OPS:
            if g["PAD_T"] >= g["K_H"] or g["PAD_L"] >= g["K_W"] \
                    or (g["OUT_H"] - 1) * g["STRIDE_H"] - g["PAD_T"] >= g["IN_H"] \
                    or (g["OUT_W"] - 1) * g["STRIDE_W"] - g["PAD_L"] >= g["IN_W"]:
                return ERR["ERR_SHAPE"]
        if op == SOFTMAX and g["C"] > SOFTMAX_MAX_C:
            return ERR["ERR_SHAPE"]
        if (g["OUT_W"] > 1 and v["OUT_PIX_STRIDE"] < cout) or \
                (g["OUT_H"] > 1 and v["OUT_ROW_STRIDE"] < (g["OUT_W"] - 1) * v["OUT_PIX_STRIDE"] + cout):
            return ERR["ERR_SHAPE"]
        arrays = (["BIAS_ADDR"] if g["BIAS"] else []) + ["MULT_ADDR", "SHIFT_ADDR"] if op == DWCONV else []
        if any(v[a] % INT32_BYTES for a in arrays):
            return ERR["ERR_ALIGN"]
        spans = self._spans(op, g, cout, arrays)
        if isinstance(spans, int):
            return spans
        if self._qparam_error(op, spans):
            return ERR["ERR_QPARAM"]
        return VuOp(op, g, spans, vu_cost(self.acc.profile.vector_lanes, op, g), self.acc.now)

    def _spans(self, op: int, g: dict, cout: int, arrays: list[str]) -> dict | int:
        """Every operand's SRAM span, or ERR_BOUNDS."""
        v = self.values
        pix = (g["IN_H"], g["IN_W"]) if op in WINDOW_OPS else (g["OUT_H"], g["OUT_W"])
        want = {"out": ("OUT_ADDR", g["OUT_H"], g["OUT_W"], cout, v["OUT_ROW_STRIDE"], v["OUT_PIX_STRIDE"])}
        if op != FILL:
            want["in"] = ("IN_ADDR", *pix, g["C"], v["IN_ROW_STRIDE"], v["IN_PIX_STRIDE"])
        if op == ADD:
            want["in2"] = ("IN2_ADDR", *pix, g["C"], v["IN2_ROW_STRIDE"], v["IN2_PIX_STRIDE"])
        if op == DWCONV:
            want["w"] = ("W_ADDR", 1, 1, g["K_H"] * g["K_W"] * cout, 0, 0)
            for a in arrays:
                want[a[:-len("_ADDR")].lower()] = (a, 1, 1, INT32_BYTES * cout, 0, 0)
        spans = {}
        for name, (reg, rows, npix, ch, rs, ps) in want.items():
            length = (rows - 1) * rs + (npix - 1) * ps + ch
            where = self.acc.resolve(v[reg], length)
            if where is None or where[0] is not self.acc.sram:
                return ERR["ERR_BOUNDS"]
            spans[name] = Span(where[1], rows, npix, ch, rs, ps)
        return spans

    def _qparam_error(self, op: int, spans: dict) -> bool:
        v = self.values
        if op in (DWCONV, AVGPOOL, MAXPOOL, ADD) and _i8(v["ACT_MIN"]) > _i8(v["ACT_MAX"]):
            return True
        offsets = {DWCONV: ("ZP_IN",), ADD: ("ZP_IN", "ZP_IN2")}.get(op, ())
        if any(not INPUT_OFFSET_MIN <= _i32(v[r]) <= INPUT_OFFSET_MAX for r in offsets):
            return True
        if op == DWCONV:
            mult, shift = (self._i32_array(spans[n]) for n in ("mult", "shift"))
            return bool((mult < 0).any() or (np.abs(shift) > TFL_MAX_SHIFT).any())
        if op == ADD:
            return any(_i32(v[m]) < 0 for m in ("IN_MULT", "IN2_MULT", "OUT_MULT")) \
                or any(not -TFL_MAX_SHIFT <= _i32(v[s]) <= 0 for s in ("IN_SHIFT", "IN2_SHIFT", "OUT_SHIFT")) \
                or not 0 <= v["LEFT_SHIFT"] <= MAX_LEFT_SHIFT
        if op == SOFTMAX:
            return _i32(v["IN_MULT"]) < 0 or not 0 <= _i32(v["IN_SHIFT"]) <= TFL_MAX_SHIFT or _i32(v["DIFF_MIN"]) > 0
        return False

    def _i32_array(self, span: Span) -> np.ndarray:
        return self.acc.sram.buf[span.off:span.off + span.ch].view("<i4")

    # ------------------------------------------------------------ completion
    @staticmethod
    def _name(op: VuOp) -> str:
        g = op.g
        cout = g["C"] * (g["DEPTH_MULT"] if op.op == DWCONV else 1)
        return f"{OPS[op.op].lower()} {g['OUT_H']}x{g['OUT_W']}x{cout}"

    def _complete(self) -> None:
        op, acc = self.op, self.acc
        base = acc.sram_base
        ranges = [(base + s.off, s.rows, (s.pix - 1) * s.pix_stride + s.ch, s.row_stride)
                  for name, s in op.spans.items() if name != "out"]
        bad = acc.faults.take_ecc(ranges)
        if bad is not None:
            acc.report_ecc(bad)
            self._fail(ERR["ERR_ECC"])
            return
        result = self._compute(op)
        if result is not None:                                   # the C kernels store their own output
            op.spans["out"].view(acc.sram.buf)[...] = result
        acc.perf.count("VU_OPS", op.cost.lane_ops)
        acc.perf.count("SRAM_RD", op.cost.sram_read)
        acc.perf.count("VU_SRAM_RD", op.cost.sram_read)
        acc.perf.count("SRAM_WR", op.cost.sram_write)
        self._finish({"op": OPS[op.op], "lane_ops": op.cost.lane_ops, **{k.lower(): x for k, x in op.g.items()}})

    def _native_args(self, op: VuOp):
        v, g, s = self.values, op.g, op.spans
        a = native.vu_args(
            in_h=g["IN_H"], in_w=g["IN_W"], c=g["C"], out_h=g["OUT_H"], out_w=g["OUT_W"], k_h=g["K_H"], k_w=g["K_W"],
            stride_h=g["STRIDE_H"], stride_w=g["STRIDE_W"], pad_t=g["PAD_T"], pad_l=g["PAD_L"],
            depth_mult=g["DEPTH_MULT"], in_off=s["in"].off, in_row=s["in"].row_stride, in_pix=s["in"].pix_stride,
            out_off=s["out"].off, out_row=s["out"].row_stride, out_pix=s["out"].pix_stride,
            zp_in=_i32(v["ZP_IN"]), zp_in2=_i32(v["ZP_IN2"]), zp_out=_i8(v["ZP_OUT"]), act_min=_i8(v["ACT_MIN"]),
            act_max=_i8(v["ACT_MAX"]), in_mult=_i32(v["IN_MULT"]), in_shift=_i32(v["IN_SHIFT"]),
            in2_mult=_i32(v["IN2_MULT"]), in2_shift=_i32(v["IN2_SHIFT"]), out_mult=_i32(v["OUT_MULT"]),
            out_shift=_i32(v["OUT_SHIFT"]), left_shift=v["LEFT_SHIFT"], bias_off=s["bias"].off if "bias" in s else -1)
        if "in2" in s:
            a.in2_off, a.in2_row, a.in2_pix = s["in2"].off, s["in2"].row_stride, s["in2"].pix_stride
        if op.op == DWCONV:
            a.w_off, a.mult_off, a.shift_off = s["w"].off, s["mult"].off, s["shift"].off
        return a

    def _compute(self, op: VuOp) -> np.ndarray | None:
        """The int8 output [OUT_H, OUT_W, Cout] of TFLite Micro's kernel for this op, or None when a
        C kernel computed and stored it in place."""
        v, buf = self.values, self.acc.sram.buf
        if op.op == FILL:
            return np.int8(_i8(v["ZP_OUT"]))
        if op.op == DWCONV:
            native.vu_dwconv_buf(buf, self._native_args(op))
            return None
        if op.op in (AVGPOOL, MAXPOOL):
            native.vu_pool_buf(buf, self._native_args(op), op.op == MAXPOOL)
            return None
        if op.op == ADD:
            native.vu_add_buf(buf, self._native_args(op))
            return None
        return self._compute_numpy(op)

    def _compute_numpy(self, op: VuOp) -> np.ndarray:
        """The numpy statement of every op but FILL (SOFTMAX's implementation; the others' oracle)."""
        v, buf, g = self.values, self.acc.sram.buf, op.g
        x = op.spans["in"].view(buf).astype(np.int64)          # a copy: in-place outputs are safe
        act = (_i8(v["ACT_MIN"]), _i8(v["ACT_MAX"]))
        if op.op == DWCONV:
            s = op.spans
            bias = self._i32_array(s["bias"]) if "bias" in s else 0
            w = buf[s["w"].off:s["w"].off + s["w"].ch].view(np.int8).reshape(g["K_H"], g["K_W"], -1)
            out = depthwise_conv(x + _i32(v["ZP_IN"]), w, bias, self._i32_array(s["mult"]),
                                 self._i32_array(s["shift"]), g)
            return np.clip(out + _i8(v["ZP_OUT"]), *act).astype(np.int8)
        if op.op == AVGPOOL:
            return np.clip(average_pool(x, g), *act).astype(np.int8)
        if op.op == MAXPOOL:
            return np.clip(max_pool(x, g), *act).astype(np.int8)
        if op.op == ADD:
            x2 = op.spans["in2"].view(buf).astype(np.int64)
            out = add(x + _i32(v["ZP_IN"]), x2 + _i32(v["ZP_IN2"]), v["LEFT_SHIFT"],
                      (_i32(v["IN_MULT"]), _i32(v["IN_SHIFT"])), (_i32(v["IN2_MULT"]), _i32(v["IN2_SHIFT"])),
                      (_i32(v["OUT_MULT"]), _i32(v["OUT_SHIFT"])))
            return np.clip(out + _i8(v["ZP_OUT"]), *act).astype(np.int8)
        return softmax_int8(x, _i32(v["IN_MULT"]), _i32(v["IN_SHIFT"]), _i32(v["DIFF_MIN"]))


# ---------------------------------------------------------------- the arithmetic (TFLite Micro's kernels) in numpy
def _windows(x: np.ndarray, g: dict, fill: int):
    """x padded with `fill` so every window lies inside; yields (kh, kw, [OUT_H, OUT_W, C] tap slice)."""
    H, W, C = x.shape
    sh, sw, kh_n, kw_n = g["STRIDE_H"], g["STRIDE_W"], g["K_H"], g["K_W"]
    rows = max((g["OUT_H"] - 1) * sh + kh_n, g["PAD_T"] + H)
    cols = max((g["OUT_W"] - 1) * sw + kw_n, g["PAD_L"] + W)
    xp = np.full((rows, cols, C), fill, np.int64)
    xp[g["PAD_T"]:g["PAD_T"] + H, g["PAD_L"]:g["PAD_L"] + W] = x
    for kh in range(kh_n):
        for kw in range(kw_n):
            yield kh, kw, xp[kh:kh + (g["OUT_H"] - 1) * sh + 1:sh, kw:kw + (g["OUT_W"] - 1) * sw + 1:sw]


def depthwise_conv(x_off: np.ndarray, w: np.ndarray, bias, mult: np.ndarray, shift: np.ndarray, g: dict) -> np.ndarray:
    """reference_integer_ops::DepthwiseConvPerChannel before the output offset: for output channel
    o = c*DEPTH_MULT + m, acc = sum over in-bounds taps of w[kh, kw, o] * (x[c] + input_offset) + bias[o]
    (int32), then MultiplyByQuantizedMultiplier(acc, mult[o], shift[o]). Skipped taps are zeros here
    (x_off already holds x + input_offset)."""
    xr = np.repeat(x_off, g["DEPTH_MULT"], axis=2) if g["DEPTH_MULT"] > 1 else x_off
    acc = np.zeros((g["OUT_H"], g["OUT_W"], xr.shape[2]), np.int64)
    for kh, kw, tap in _windows(xr, g, 0):
        acc += tap * w[kh, kw].astype(np.int64)
    acc = wrap_int32(acc + np.asarray(bias, np.int64))
    return multiply_by_quantized_multiplier(acc, mult.astype(np.int64), shift.astype(np.int64))


def average_pool(x: np.ndarray, g: dict) -> np.ndarray:
    """reference_integer_ops::AveragePool: the sum over in-bounds taps divided by their count,
    rounded half away from zero (C's truncating division of acc +- count/2)."""
    acc = np.zeros((g["OUT_H"], g["OUT_W"], x.shape[2]), np.int64)
    for _, _, tap in _windows(x, g, 0):
        acc += tap
    count = (_taps(g["OUT_H"], g["STRIDE_H"], g["PAD_T"], g["K_H"], x.shape[0])[:, None]
             * _taps(g["OUT_W"], g["STRIDE_W"], g["PAD_L"], g["K_W"], x.shape[1])[None, :])[:, :, None]
    q = (np.abs(acc) + count // 2) // count
    return np.where(acc > 0, q, -q)


def max_pool(x: np.ndarray, g: dict) -> np.ndarray:
    """reference_integer_ops::MaxPool: the largest in-bounds tap."""
    out = np.full((g["OUT_H"], g["OUT_W"], x.shape[2]), MAXPOOL_EMPTY, np.int64)
    for _, _, tap in _windows(x, g, MAXPOOL_EMPTY):
        np.maximum(out, tap, out=out)
    return out


def add(a_off: np.ndarray, b_off: np.ndarray, left_shift: int, in1: tuple[int, int], in2: tuple[int, int],
        out: tuple[int, int]) -> np.ndarray:
    """reference_integer_ops AddFunc before the output offset: each offset input shifted left by
    left_shift and scaled by MultiplyByQuantizedMultiplierSmallerThanOneExp, the int32 sum scaled by
    the output multiplier."""
    s1 = mbqm_smaller_than_one(wrap_int32(a_off << left_shift), *in1)
    s2 = mbqm_smaller_than_one(wrap_int32(b_off << left_shift), *in2)
    return mbqm_smaller_than_one(wrap_int32(s1 + s2), *out)
