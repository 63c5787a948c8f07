"""Tensor core (the TENSOR block): int8 GEMM with fused bias and requantization on SRAM operands.

C[M,N] = requant(A[M,K] x B[K,N] + bias[N]), computed in place on the SRAM
buffer by the native C kernel (`native.gemm_i8_buf`, zero-copy) when the
operation's modeled time has elapsed; results appear only with DONE. Exact
arithmetic: docs/native.md (summary in docs/accelerator.md).

Writing CTRL.START (ignored while BUSY) clears DONE/ERR/ERR_CODE and validates,
in this order, failing at once (no time, no memory touched) with:
1. ERR_SHAPE: M, N or K outside 1..TC_MAX_DIM, or C_STRIDE smaller than one output row;
2. ERR_ALIGN: BIAS_ADDR (with BIAS_EN), MULT_ADDR or SHIFT_ADDR (int8 mode) not
   4-aligned, or, in RAW32 mode, C_ADDR or C_STRIDE not 4-aligned;
3. ERR_BOUNDS: any operand range (A, B, C with their strides; the int32 arrays
   of N entries that the mode uses) not wholly inside SRAM;
4. ERR_QPARAM: (int8 mode) some MULT[j] < 0, SHIFT[j] outside 0..TC_MAX_SHIFT
   (-TFL_MAX_SHIFT..TFL_MAX_SHIFT with CTRL.QMODE_TFL), or ACT_MIN > ACT_MAX.
Otherwise BUSY is set for `gemm_cost(...).cycles` cycles. At completion a
read of an ECC-faulted SRAM address inside an operand fails with ERR_ECC
(nothing written); else C is written and DONE set. CTRL.ABORT ends a busy
operation with ERR_ABORTED, writing nothing. IRQ_TENSOR = (DONE | ERR) & CTRL.IRQ_EN.

Requantization: native (acc*MULT + 2^(SHIFT-1)) >> SHIFT, or with CTRL.QMODE_TFL
TFLite Micro's MultiplyByQuantizedMultiplier (signed SHIFT, positive = left);
then + ZP_OUT, RELU at ZP_OUT, and the int8 result clamped to [ACT_MIN, ACT_MAX]
(reset -128/127: no clamp). The cost model is the same in both modes.

Cost model (output-stationary systolic array of R x C PEs, vector unit of V
bytes): the output is cut into ceil(M/R) x ceil(N/C) tiles; a tile of
tr x tc outputs costs
    (K + tr + tc - 2)            skewed operand fill, K MAC steps, drain
  + ceil(tr * tc * ob / V)       requantize and write back (ob = 1 int8, 4 RAW32)
  + ceil(tc * 4 * q / V)         load the tile's int32 per-column arrays (q = BIAS_EN + 2 in int8 mode)
cycles, tiles run back to back. SRAM traffic: each tile reads its A rows
(tr*K bytes), its B columns (K*tc) and its 4*q*tc parameter bytes, and writes
tr*tc*ob bytes. Bank conflicts are not modeled (operands stream through the
interleaved banks). Counters at completion: MACS += M*N*K, SRAM_RD and TC_SRAM_RD += the
reads above, SRAM_WR += the writes.

Usage:
    cost = gemm_cost(profile, M, N, K, raw32=False, bias=True); cost.cycles, cost.sram_read
"""

from __future__ import annotations

from dataclasses import dataclass

from asic_model.soc_map import CONSTANTS, TENSOR
from asic_model.unit import OneShotUnit

TC_MAX_DIM = CONSTANTS["TC_MAX_DIM"].value
TC_MAX_SHIFT = CONSTANTS["TC_MAX_SHIFT"].value
TFL_MAX_SHIFT = CONSTANTS["TFL_MAX_SHIFT"].value
INT32_BYTES = 4
ERR = {name: CONSTANTS[name].value for name in
       ("ERR_BOUNDS", "ERR_SHAPE", "ERR_QPARAM", "ERR_ECC", "ERR_ABORTED", "ERR_ALIGN")}
_CTRL = TENSOR.reg("CTRL")
RELU, RAW32, BIAS_EN, QMODE_TFL = (_CTRL.field(f).mask for f in ("RELU", "RAW32", "BIAS_EN", "QMODE_TFL"))
FLAG_RELU, FLAG_RAW32, FLAG_QTFL = 1, 2, 4  # native.gemm_i8_buf flags
INT8_SIGN, BYTE = 0x80, 0xFF


def int8_field(value: int) -> int:
    """The signed 8-bit value in the low byte of a register."""
    v = value & BYTE
    return v - 0x100 if v & INT8_SIGN else v


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmCost:
    """Modeled cost of one tensor-core operation."""

    cycles: int
    macs: int
    tiles: int
    sram_read: int
    sram_write: int


def gemm_cost(profile, M: int, N: int, K: int, raw32: bool = False, bias: bool = True) -> GemmCost:
    """Cycles and SRAM traffic of C[M,N] = A[M,K] x B[K,N] on `profile` (closed form over the 4 tile kinds)."""
    R, C, V = profile.array_rows, profile.array_cols, profile.vector_width
    ob = INT32_BYTES if raw32 else 1
    q = int(bias) + (0 if raw32 else 2)
    rows = [(M // R, R), (1 if M % R else 0, M % R)]
    cols = [(N // C, C), (1 if N % C else 0, N % C)]
    cycles = tiles = rd = 0
    for nr, tr in rows:
        for nc, tc in cols:
            n = nr * nc
            if not n:
                continue
            tiles += n
            cycles += n * ((K + tr + tc - 2) + _ceil(tr * tc * ob, V) + _ceil(tc * INT32_BYTES * q, V))
            rd += n * (tr * K + K * tc + INT32_BYTES * q * tc)
    return GemmCost(cycles, M * N * K, tiles, rd, M * N * ob)


@dataclass(frozen=True)
class GemmOp:
    """A validated operation: register values, SRAM offsets and its cost."""

    M: int
    N: int
    K: int
    a: int
    b: int
    c: int
    bias: int  # -1: none
    mult: int  # -1: RAW32
    shift: int
    lda: int
    ldb: int
    ldc_bytes: int
    zp: int
    flags: int
    act_min: int
    act_max: int
    cost: GemmCost
    start: int

    @property
    def cycles(self) -> int:
        return self.cost.cycles


def _native():
    try:
        import native
    except ImportError as exc:
        raise ImportError(f"the tensor core needs the native kernel: {exc}; run `make setup`") from exc
    return native


class TensorCore(OneShotUnit):
    """The TENSOR register block and the operation in flight."""

    KIND = "tensor"

    def __init__(self, acc):
        super().__init__(acc, TENSOR, "TENSOR")

    def _hung(self) -> bool:
        return self.acc.faults.hang

    def _on_abort(self) -> None:
        self.acc.faults.hang = False

    def _validate(self, ctrl: int) -> GemmOp | int:
        v = self.values
        M, N, K = v["M"], v["N"], v["K"]
        raw32, bias_en = bool(ctrl & RAW32), bool(ctrl & BIAS_EN)
        ob = INT32_BYTES if raw32 else 1
        if not (1 <= M <= TC_MAX_DIM and 1 <= N <= TC_MAX_DIM and 1 <= K <= TC_MAX_DIM) or v["C_STRIDE"] < N * ob:
            return ERR["ERR_SHAPE"]
        arrays = (["BIAS_ADDR"] if bias_en else []) + ([] if raw32 else ["MULT_ADDR", "SHIFT_ADDR"])
        if any(v[a] % INT32_BYTES for a in arrays) or (raw32 and (v["C_ADDR"] % INT32_BYTES or v["C_STRIDE"] % INT32_BYTES)):
            return ERR["ERR_ALIGN"]
        spans = {"A_ADDR": (M - 1) * v["A_STRIDE"] + K, "B_ADDR": (K - 1) * v["B_STRIDE"] + N,
                 "C_ADDR": (M - 1) * v["C_STRIDE"] + N * ob}
        spans.update({a: N * INT32_BYTES for a in arrays})
        off = {}
        for reg, length in spans.items():
            where = self.acc.resolve(v[reg], length)
            if where is None or where[0] is not self.acc.sram:
                return ERR["ERR_BOUNDS"]
            off[reg] = where[1]
        buf = self.acc.sram.buf
        tfl = bool(ctrl & QMODE_TFL) and not raw32
        act_min, act_max = int8_field(v["ACT_MIN"]), int8_field(v["ACT_MAX"])
        if not raw32:
            mult = buf[off["MULT_ADDR"]:off["MULT_ADDR"] + N * INT32_BYTES].view("<i4")
            shift = buf[off["SHIFT_ADDR"]:off["SHIFT_ADDR"] + N * INT32_BYTES].view("<i4")
            lo, hi = (-TFL_MAX_SHIFT, TFL_MAX_SHIFT) if tfl else (0, TC_MAX_SHIFT)
            if (mult < 0).any() or (shift < lo).any() or (shift > hi).any() or act_min > act_max:
                return ERR["ERR_QPARAM"]
        zp = int8_field(v["ZP_OUT"])
        flags = (FLAG_RELU if ctrl & RELU else 0) | (FLAG_RAW32 if raw32 else 0) | (FLAG_QTFL if tfl else 0)
        return GemmOp(M, N, K, off["A_ADDR"], off["B_ADDR"], off["C_ADDR"], off.get("BIAS_ADDR", -1),
                      off.get("MULT_ADDR", -1), off.get("SHIFT_ADDR", -1), v["A_STRIDE"], v["B_STRIDE"],
                      v["C_STRIDE"], zp, flags, act_min, act_max, gemm_cost(self.acc.profile, M, N, K, raw32, bias_en), self.acc.now)

    @staticmethod
    def _name(op: GemmOp) -> str:
        return f"gemm {op.M}x{op.N}x{op.K}"

    def _read_ranges(self, op: GemmOp) -> list[tuple[int, int, int, int]]:
        base = self.acc.sram_base
        ranges = [(base + op.a, op.M, op.K, op.lda), (base + op.b, op.K, op.N, op.ldb)]
        for o in (op.bias, op.mult, op.shift):
            if o >= 0:
                ranges.append((base + o, 1, op.N * INT32_BYTES, 0))
        return ranges

    def _complete(self) -> None:
        op, acc = self.op, self.acc
        bad = acc.faults.take_ecc(self._read_ranges(op))
        if bad is not None:
            acc.report_ecc(bad)
            self._fail(ERR["ERR_ECC"])
            return
        raw32 = bool(op.flags & FLAG_RAW32)
        ldc = op.ldc_bytes // INT32_BYTES if raw32 else op.ldc_bytes
        _native().gemm_i8_buf(acc.sram.buf, op.a, op.lda, op.b, op.ldb, op.c, ldc, op.M, op.N, op.K,
                              op.bias, op.mult, op.shift, op.zp, op.flags, act_min=op.act_min, act_max=op.act_max)
        acc.perf.count("MACS", op.cost.macs)
        acc.perf.count("SRAM_RD", op.cost.sram_read)
        acc.perf.count("TC_SRAM_RD", op.cost.sram_read)
        acc.perf.count("SRAM_WR", op.cost.sram_write)
        self._finish({"M": op.M, "N": op.N, "K": op.K, "macs": op.cost.macs, "tiles": op.cost.tiles,
                      "raw32": raw32, "relu": bool(op.flags & FLAG_RELU)})

