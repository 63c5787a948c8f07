"""Tensor core benchmark: int8 GEMM GOPS per shape, entry point and dispatch path, beside torch / numpy anchors.

Usage:
    from native.bench import run; records = run(quick=True)
    python -c "from tessera.bench import run_bench, print_table; run_bench('tensorcore'); print_table()"

GOPS = 2*M*N*K / seconds. Every record with an anchor is measured interleaved with it in the same
process: warm both, then ROUNDS alternations of (value batch, anchor batch), each batch the median
of several timed repetitions; the record holds the medians over rounds, so a ratio survives the
drift of a shared machine. Anchors: torch._int_mm on one thread (int8 x int8 -> int32, the work of
RAW32) where torch accepts the shape (M >= 17), numpy float32 matmul otherwise.

Case names say which API a row uses:
  "gemm_i8"            the ordinary numpy call, B an int8 array (same B every call: weights resident,
                       so the C side's packed-B cache hits; the bytes are compared every call)
  "gemm_i8 repack"     the same call with the packed-B cache off: B packed on every call
  "GemmPlan packed-B"  a prepared call on pre-packed weights (native.pack_b): the resident-weights API
  "pack_b"             the one-time cost of packing the weights (microseconds, beside the GEMM)
  "gemm_i8_buf"        the tensor core device's call: offsets into one SRAM buffer, int8 requant +
                       bias + ReLU fused (tile rows; "repack" = packed-B cache off)
Goals (the speed issue) sit on the default path's records; per-path records carry their ratio only.
"""

from __future__ import annotations

import statistics

import numpy as np

import native
from tessera.bench import Record, measure

GEMM_SHAPES = [(1, 64, 64), (64, 64, 64), (256, 256, 256), (1024, 1024, 1024)]
# Goal ratios vs the shape's anchor (torch._int_mm for M >= 17, numpy float32 below).
GEMM_GOALS = {(1, 64, 64): 3.0, (64, 64, 64): 3.0, (256, 256, 256): 1.0, (1024, 1024, 1024): 1.0}
# Tiles the firmware issues per accelerator profile: one array-sized output tile with K streamed,
# and the M=1 row of batch-1 inference.
PROFILE_TILES = [("tiny", 8, 8, 256), ("edge-v1", 16, 16, 256), ("edge-v2", 32, 32, 512)]
PROFILE_TILE_GOAL = 1.0
TORCH_MIN_M = 17              # torch._int_mm rejects smaller M
TARGET_BATCH_SECONDS = 2e-3   # calls per timed batch are chosen to fill about this
GUESS_OPS_PER_SECOND = 2e11   # for sizing batches before anything is measured
ANCHOR_WARMUP = 5             # oneDNN/BLAS need a few calls per new shape before they settle
ROUNDS = 5                    # value/anchor alternations per record (1 in quick mode)
REPEAT = 7                    # timed batches per measurement (3 in quick mode)
QUICK_MAX_OPS = 1 << 25       # quick mode measures larger shapes on the default path only
SLOW_PATH_MAX_OPS = 1 << 29   # the portable C loop skips shapes above this (it runs ~25 GOPS)
TORCH_ANCHOR = "torch._int_mm, 1 thread"
NUMPY_ANCHOR = "numpy float32 matmul"
REQUANT_MULT, REQUANT_SHIFT = 1 << 20, 28   # a realistic per-channel scale for the tile records


def _calls_for(ops: int, quick: bool) -> int:
    return max(1, int(TARGET_BATCH_SECONDS * GUESS_OPS_PER_SECOND / ops) // (4 if quick else 1))


def _seconds(fn, ops: int, quick: bool) -> float:
    return measure(fn, repeat=3 if quick else REPEAT, warmup=1, number=_calls_for(ops, quick))


def _gops(fn, ops: int, quick: bool) -> float:
    return ops / _seconds(fn, ops, quick) / 1e9


def _torch():
    try:
        import torch
    except ImportError as exc:
        return None, f"torch not installed ({exc})"
    torch.set_num_threads(1)
    return torch, ""


class _Anchors:
    """Anchor callables per shape: torch._int_mm (M >= 17, when installed) else numpy float32."""

    def __init__(self):
        self.torch, self.torch_note = _torch()

    def for_shape(self, M: int, N: int, K: int):
        """(anchor name, fn or None, note)."""
        if M >= TORCH_MIN_M:
            if self.torch is None:
                return TORCH_ANCHOR, None, self.torch_note
            t = self.torch
            a = t.randint(-128, 128, (M, K), dtype=t.int8)
            b = t.randint(-128, 128, (K, N), dtype=t.int8)
            return TORCH_ANCHOR, (lambda: t._int_mm(a, b)), ""
        af = np.ones((M, K), np.float32)
        bf = np.ones((K, N), np.float32)
        of = np.empty((M, N), np.float32)
        return NUMPY_ANCHOR, (lambda: np.matmul(af, bf, out=of)), \
            f"torch._int_mm rejects M < {TORCH_MIN_M}; numpy uses its default BLAS threads"


def _record(anchors: _Anchors, case: str, fn, shape, quick: bool, goal: float | None) -> Record:
    """GOPS of fn measured interleaved with the shape's anchor (median over rounds of both)."""
    M, N, K = shape
    ops = 2 * M * N * K
    name, afn, note = anchors.for_shape(M, N, K)
    if afn is None:
        return Record(case=case, metric="GOPS", better="higher", value=_gops(fn, ops, quick), anchor=name,
                      anchor_value=None, goal=goal, note=note)
    for _ in range(1 if quick else ANCHOR_WARMUP):
        afn()
        fn()
    vals, ancs = [], []
    for _ in range(1 if quick else ROUNDS):
        vals.append(_gops(fn, ops, quick))
        ancs.append(_gops(afn, ops, quick))
    return Record(case=case, metric="GOPS", better="higher", value=statistics.median(vals), anchor=name,
                  anchor_value=statistics.median(ancs), goal=goal, note=note)


def _operands(M: int, N: int, K: int):
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    return rng.integers(-128, 128, (M, K), dtype=np.int8), rng.integers(-128, 128, (K, N), dtype=np.int8)


def _repacked(anchors: _Anchors, case: str, fn, shape, quick: bool) -> Record:
    """_record with this thread's packed-B cache off, so B is packed on every call."""
    with native.b_cache(False):
        return _record(anchors, case, fn, shape, quick, None)


def _gemm_records(anchors: _Anchors, quick: bool) -> list[Record]:
    recs = []
    best = native.best_path()
    for shape in GEMM_SHAPES:
        M, N, K = shape
        ops = 2 * M * N * K
        a, b = _operands(M, N, K)
        out = np.empty((M, N), np.int32)
        name = f"{M}x{N}x{K} raw32"
        paths = ["auto"] + [p for p in native.paths() if not (p == "portable" and ops > SLOW_PATH_MAX_OPS)]
        if quick and ops > QUICK_MAX_OPS:
            paths = ["auto"]
        for path in paths:
            label = f"{best} (auto)" if path == "auto" else path
            arg = None if path == "auto" else path
            goal = GEMM_GOALS.get(shape) if path == "auto" else None
            plain = (lambda arg=arg: native.gemm_i8(a, b, raw32=True, out=out, path=arg))
            recs.append(_record(anchors, f"gemm_i8 {name} [{label}]", plain, shape, quick, goal))
            w = native.pack_b(b, path=arg)
            plan = native.GemmPlan(a, w, out, raw32=True)
            recs.append(_record(anchors, f"GemmPlan packed-B {name} [{label}]", plan, shape, quick, goal))
            if path == "auto":
                recs.append(_repacked(anchors, f"gemm_i8 repack {name} [{label}]", plain, shape, quick))
                pack_s = measure(lambda: native.pack_b(b), repeat=3 if quick else REPEAT, warmup=1,
                                 number=max(1, _calls_for(ops, quick) // 4))
                call_s = _seconds(plan, ops, quick)
                recs.append(Record(case=f"pack_b {K}x{N} (one-time weight packing) [{label}]", metric="us",
                                   better="lower", value=pack_s * 1e6, anchor=f"GemmPlan {M}x{N}x{K} call, us",
                                   anchor_value=call_s * 1e6,
                                   note="paid once per weight matrix; ratio = packing / one GEMM call"))
    return recs


def _sram_tile(M: int, N: int, K: int):
    """An SRAM buffer holding A, B, bias, mult, shift the way the model lays out one tile."""
    sram = np.zeros(1 << 16, np.uint8)
    a_off, b_off = 0, M * K
    c_off = b_off + K * N
    bias_off = c_off + M * N
    mult_off, shift_off = bias_off + 4 * N, bias_off + 8 * N
    sram[a_off:c_off] = np.random.default_rng(K + N).integers(0, 256, c_off, dtype=np.uint8)
    sram[bias_off:bias_off + 4 * N] = np.arange(N, dtype=np.int32).view(np.uint8)
    sram[mult_off:mult_off + 4 * N] = np.full(N, REQUANT_MULT, np.int32).view(np.uint8)
    sram[shift_off:shift_off + 4 * N] = np.full(N, REQUANT_SHIFT, np.int32).view(np.uint8)
    args = (a_off, K, b_off, N, c_off, N, M, N, K, bias_off, mult_off, shift_off, 0, native.RELU)
    return sram, args


def _tile_records(anchors: _Anchors, quick: bool) -> list[Record]:
    """Profile tiles the way the tensor core device issues them: gemm_i8_buf on its SRAM buffer."""
    recs = []
    best = native.best_path()
    for profile, R, C, K in PROFILE_TILES:
        for M in (R, 1):
            sram, args = _sram_tile(M, C, K)
            shape = (M, C, K)
            fn = (lambda sram=sram, args=args: native.gemm_i8_buf(sram, *args))
            row = "M=1 row" if M == 1 else "tile"
            recs.append(_record(anchors, f"gemm_i8_buf {profile} {row} {M}x{C}x{K} int8 [{best}]", fn, shape,
                                quick, PROFILE_TILE_GOAL))
            recs.append(_repacked(anchors, f"gemm_i8_buf repack {profile} {row} {M}x{C}x{K} int8 [{best}]", fn,
                                  shape, quick))
    return recs


def _overhead_records(quick: bool) -> list[Record]:
    """Per-call cost: 1x1x1 through each entry point, beside a 1x1x1 numpy float32 matmul."""
    a = np.ones((1, 1), np.int8)
    out = np.empty((1, 1), np.int32)
    w = native.pack_b(a)
    buf = bytearray(64)
    af = np.ones((1, 1), np.float32)
    of = np.empty((1, 1), np.float32)
    n = 2000 if quick else 20000
    reps = 3 if quick else REPEAT
    entries = {
        "gemm_i8 (numpy arrays, repeated call)": lambda: native.gemm_i8(a, a, raw32=True, out=out),
        "gemm_i8 (out=None: allocates)": lambda: native.gemm_i8(a, a, raw32=True),
        "gemm_i8 (packed B)": lambda: native.gemm_i8(a, w, raw32=True, out=out),
        "gemm_i8_buf (SRAM offsets, repeated)": lambda: native.gemm_i8_buf(buf, 0, 1, 1, 1, 4, 1, 1, 1, 1, -1, 0, 0,
                                                                           0, native.RAW32),
        "GemmPlan call": native.GemmPlan(a, w, out, raw32=True),
    }
    recs = []
    for name, fn in entries.items():
        anchor_ns = measure(lambda: np.matmul(af, af, out=of), repeat=reps, number=n) * 1e9
        recs.append(Record(case=f"call overhead 1x1x1 {name}", metric="ns/call", better="lower",
                           value=measure(fn, repeat=reps, number=n) * 1e9, anchor="numpy float32 matmul 1x1x1",
                           anchor_value=anchor_ns))
    return recs


def run(quick: bool = False) -> list[Record]:
    anchors = _Anchors()
    return _gemm_records(anchors, quick) + _tile_records(anchors, quick) + _overhead_records(quick)


if __name__ == "__main__":
    from tessera.bench import format_table
    print(format_table([("tensorcore", r.to_json()) for r in run(quick=True)]))
