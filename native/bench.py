"""Tensor core benchmark: int8 GEMM GOPS per shape and dispatch path, beside torch / numpy anchors.

Usage:
    from native.bench import run; records = run(quick=True)
    python -c "from tessera.bench import run_bench, print_table; run_bench('tensorcore'); print_table()"

GOPS = 2*M*N*K / seconds. Anchors are measured in the same process right after each value:
torch._int_mm on one thread (int8 x int8 -> int32; it refuses M < 17, where the anchor is numpy
float32 matmul) and numpy float32 matmul (numpy's default BLAS threading). Goals (from the speed
issue) sit on the default-path records only; per-path records are informational.
"""

from __future__ import annotations

import statistics

import numpy as np

import native
from tessera.bench import Record, measure

GEMM_SHAPES = [(1, 64, 64), (64, 64, 64), (256, 256, 256), (1024, 1024, 1024)]
# Goal ratios vs torch._int_mm (1 thread); 1x64x64 is judged against numpy float32 instead.
TORCH_GOALS = {(64, 64, 64): 3.0, (256, 256, 256): 1.0, (1024, 1024, 1024): 1.0}
NUMPY_GOALS = {(1, 64, 64): 3.0}
# Tiles the firmware issues per accelerator profile: one output tile of the array, K streamed.
PROFILE_TILES = [("tiny", 8, 8, 256), ("edge-v1", 16, 16, 256), ("edge-v2", 32, 32, 512)]
PROFILE_TILE_GOAL = 1.0
TORCH_MIN_M = 17              # torch._int_mm rejects smaller M
TARGET_BATCH_SECONDS = 2e-3   # calls per timing batch are chosen to fill this
TORCH_ANCHOR = "torch._int_mm, 1 thread"
NUMPY_ANCHOR = "numpy float32 matmul"


def _calls_for(ops: int, quick: bool) -> int:
    guess_ops_per_second = 2e11
    return max(1, int(TARGET_BATCH_SECONDS * guess_ops_per_second / ops) // (4 if quick else 1))


def _torch():
    try:
        import torch
    except ImportError as exc:
        return None, f"torch not installed ({exc})"
    torch.set_num_threads(1)
    return torch, ""


ANCHOR_WARMUP = 5             # oneDNN/BLAS need a few calls per new shape before they settle
ROUNDS = 3                    # value/anchor measurements alternate this many times (goal records)


def _gops(fn, ops: int, quick: bool, warmup: int = 2) -> float:
    n = _calls_for(ops, quick)
    return ops / measure(fn, repeat=3 if quick else 7, warmup=1 if quick else warmup, number=n) / 1e9


def _interleaved(value_fn, anchor_fn, ops: int, quick: bool) -> tuple[float, float]:
    """Median over ROUNDS of alternating (value, anchor) measurements, after warming both."""
    for _ in range(ANCHOR_WARMUP):
        anchor_fn()
        value_fn()
    vals, ancs = [], []
    for _ in range(1 if quick else ROUNDS):
        vals.append(_gops(value_fn, ops, quick))
        ancs.append(_gops(anchor_fn, ops, quick))
    return statistics.median(vals), statistics.median(ancs)


class _Anchors:
    """Anchor GOPS per shape, measured on first use (right after the first value of that shape)."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.torch, self.torch_note = _torch()
        self.cache: dict[tuple, float | None] = {}

    def numpy_fn(self, M: int, N: int, K: int):
        a = np.ones((M, K), np.float32)
        b = np.ones((K, N), np.float32)
        out = np.empty((M, N), np.float32)
        return lambda: np.matmul(a, b, out=out)

    def torch_fn(self, M: int, N: int, K: int):
        t = self.torch
        a = t.randint(-128, 128, (M, K), dtype=t.int8)
        b = t.randint(-128, 128, (K, N), dtype=t.int8)
        return lambda: t._int_mm(a, b)

    def anchor_fn(self, M: int, N: int, K: int):
        """(kind, fn) of the primary anchor for this shape; fn None if it cannot run here."""
        if M >= TORCH_MIN_M:
            return "torch", (self.torch_fn(M, N, K) if self.torch is not None else None)
        return "numpy", self.numpy_fn(M, N, K)

    def measured(self, value_fn, M: int, N: int, K: int) -> float:
        """Value GOPS measured interleaved with the shape's primary anchor (cached for later records)."""
        kind, afn = self.anchor_fn(M, N, K)
        ops = 2 * M * N * K
        if afn is None:
            return _gops(value_fn, ops, self.quick)
        value, anchor = _interleaved(value_fn, afn, ops, self.quick)
        self.cache[(kind, M, N, K)] = anchor
        return value

    def numpy_f32(self, M: int, N: int, K: int) -> float:
        key = ("numpy", M, N, K)
        if key not in self.cache:
            self.cache[key] = _gops(self.numpy_fn(M, N, K), 2 * M * N * K, self.quick, warmup=ANCHOR_WARMUP)
        return self.cache[key]

    def torch_int_mm(self, M: int, N: int, K: int) -> tuple[float | None, str]:
        if self.torch is None:
            return None, self.torch_note
        key = ("torch", M, N, K)
        if key not in self.cache:
            self.cache[key] = _gops(self.torch_fn(M, N, K), 2 * M * N * K, self.quick, warmup=ANCHOR_WARMUP)
        return self.cache[key], ""


def _operands(M: int, N: int, K: int):
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    b = rng.integers(-128, 128, (K, N), dtype=np.int8)
    return a, b


def _gemm_records(anchors: _Anchors, quick: bool) -> list[Record]:
    recs = []
    best = native.best_path()
    for shape in GEMM_SHAPES:
        M, N, K = shape
        ops = 2 * M * N * K
        a, b = _operands(M, N, K)
        out = np.empty((M, N), np.int32)
        name = f"{M}x{N}x{K}"
        paths = ["auto"] + native.paths()
        if quick and M * N * K > 1 << 24:
            paths = ["auto"]
        for path in paths:
            label = f"{best} (auto)" if path == "auto" else path
            arg = None if path == "auto" else path
            fn = (lambda: native.gemm_i8(a, b, raw32=True, out=out, path=arg))
            value = anchors.measured(fn, M, N, K) if path == "auto" else _gops(fn, ops, quick)
            recs.append(_anchored(anchors, f"gemm_i8 {name} raw32 [{label}]", value, shape,
                                  goal=path == "auto"))
        w = native.pack_b(b)
        value = _gops(lambda: native.gemm_i8(a, w, raw32=True, out=out), ops, quick)
        recs.append(_anchored(anchors, f"gemm_i8 {name} raw32 packed-B [{best}]", value, shape, goal=False))
        plan = native.GemmPlan(a, w, out, raw32=True)
        value = anchors.measured(plan, M, N, K)
        recs.append(_anchored(anchors, f"GemmPlan {name} raw32 packed-B [{best}]", value, shape, goal=True))
    return recs


def _anchored(anchors: _Anchors, case: str, value: float, shape, goal: bool) -> Record:
    M, N, K = shape
    if M >= TORCH_MIN_M:
        av, note = anchors.torch_int_mm(M, N, K)
        return Record(case=case, metric="GOPS", better="higher", value=value, anchor=TORCH_ANCHOR, anchor_value=av,
                      goal=TORCH_GOALS.get(shape) if goal else None, note=note)
    return Record(case=case, metric="GOPS", better="higher", value=value, anchor=NUMPY_ANCHOR,
                  anchor_value=anchors.numpy_f32(M, N, K), goal=NUMPY_GOALS.get(shape) if goal else None,
                  note=f"torch._int_mm rejects M < {TORCH_MIN_M}")


def _numpy_records(anchors: _Anchors, quick: bool) -> list[Record]:
    """Default path vs numpy float32 for every GEMM shape (the second anchor)."""
    recs = []
    best = native.best_path()
    for M, N, K in GEMM_SHAPES:
        a, b = _operands(M, N, K)
        out = np.empty((M, N), np.int32)
        value = _gops(lambda: native.gemm_i8(a, b, raw32=True, out=out), 2 * M * N * K, quick)
        recs.append(Record(case=f"gemm_i8 {M}x{N}x{K} raw32 [{best}] vs f32", metric="GOPS", better="higher",
                           value=value, anchor=NUMPY_ANCHOR, anchor_value=anchors.numpy_f32(M, N, K),
                           note="numpy uses its default BLAS threads (2 cores)"))
    return recs


def _tile_records(anchors: _Anchors, quick: bool) -> list[Record]:
    """Profile tiles the way the model issues them: gemm_i8_buf on one SRAM buffer, int8 requant + bias."""
    recs = []
    best = native.best_path()
    for profile, M, N, K in PROFILE_TILES:
        sram = np.zeros(1 << 16, np.uint8)
        a_off, b_off, c_off = 0, M * K, M * K + K * N
        bias_off = c_off + M * N
        mult_off, shift_off = bias_off + 4 * N, bias_off + 8 * N
        sram[a_off:c_off] = np.random.default_rng(K).integers(0, 256, c_off, dtype=np.uint8)
        sram[mult_off:mult_off + 4 * N] = np.full(N, 1 << 20, np.int32).view(np.uint8)
        sram[shift_off:shift_off + 4 * N] = np.full(N, 28, np.int32).view(np.uint8)
        ops = 2 * M * N * K
        value = anchors.measured(lambda: native.gemm_i8_buf(sram, a_off, K, b_off, N, c_off, N, M, N, K, bias_off,
                                                            mult_off, shift_off, 0, native.RELU), M, N, K)
        case = f"tile {profile} {M}x{N}x{K} gemm_i8_buf int8 [{best}]"
        if M >= TORCH_MIN_M:
            av, note = anchors.torch_int_mm(M, N, K)
            recs.append(Record(case=case, metric="GOPS", better="higher", value=value, anchor=TORCH_ANCHOR,
                               anchor_value=av, goal=PROFILE_TILE_GOAL, note=note))
        else:
            recs.append(Record(case=case, metric="GOPS", better="higher", value=value, anchor=NUMPY_ANCHOR,
                               anchor_value=anchors.numpy_f32(M, N, K), goal=PROFILE_TILE_GOAL,
                               note=f"torch._int_mm rejects M < {TORCH_MIN_M}"))
    return recs


def _overhead_records(quick: bool) -> list[Record]:
    """Per-call overhead: 1x1x1 through each entry point, beside a 1x1x1 numpy float32 matmul."""
    a = np.ones((1, 1), np.int8)
    out = np.empty((1, 1), np.int32)
    w = native.pack_b(a)
    buf = bytearray(64)
    af = np.ones((1, 1), np.float32)
    of = np.empty((1, 1), np.float32)
    n = 2000 if quick else 20000
    reps = 3 if quick else 7
    anchor_ns = measure(lambda: np.matmul(af, af, out=of), repeat=reps, number=n) * 1e9
    entries = {
        "gemm_i8 (numpy arrays)": lambda: native.gemm_i8(a, a, raw32=True, out=out),
        "gemm_i8 (packed B)": lambda: native.gemm_i8(a, w, raw32=True, out=out),
        "gemm_i8_buf (SRAM offsets)": lambda: native.gemm_i8_buf(buf, 0, 1, 1, 1, 4, 1, 1, 1, 1, -1, 0, 0, 0,
                                                                 native.RAW32),
        "GemmPlan call": native.GemmPlan(a, w, out, raw32=True),
    }
    return [Record(case=f"call overhead 1x1x1 {name}", metric="ns/call", better="lower",
                   value=measure(fn, repeat=reps, number=n) * 1e9, anchor="numpy float32 matmul 1x1x1",
                   anchor_value=anchor_ns) for name, fn in entries.items()]


def run(quick: bool = False) -> list[Record]:
    anchors = _Anchors(quick)
    return (_gemm_records(anchors, quick) + _numpy_records(anchors, quick) + _tile_records(anchors, quick)
            + _overhead_records(quick))


if __name__ == "__main__":
    from tessera.bench import format_table
    print(format_table([("tensorcore", r.to_json()) for r in run(quick=True)]))
