"""The tensor core bench states every goal of the speed issue as a record with its anchor (no timing asserted).

Usage: pytest tests/native/test_bench_records.py -q
"""

from __future__ import annotations

import pytest

import native
from native import bench

GOAL_CASES = [f"{api} {M}x{N}x{K} raw32 [{native.best_path()} (auto)]"
              for M, N, K in bench.GEMM_SHAPES for api in ("gemm_i8", "GemmPlan packed-B")]
TILE_CASES = [f"gemm_i8_buf {p} {row} {m}x{C}x{K} int8 [{native.best_path()}]"
              for p, R, C, K in bench.PROFILE_TILES for row, m in (("tile", R), ("M=1 row", 1))]


@pytest.fixture(scope="module")
def records():
    return {r.case: r for r in bench.run(quick=True)}


def test_every_goal_is_a_record_with_its_anchor(records):
    for case in GOAL_CASES + TILE_CASES:
        r = records[case]
        assert r.goal is not None and r.metric == "GOPS" and r.better == "higher", case
        assert r.value > 0
        if r.anchor_value is None:           # only when torch is missing, and then it says so
            assert "torch not installed" in r.note
        else:
            assert r.ratio == pytest.approx(r.value / r.anchor_value)


def test_anchor_is_torch_from_m17_and_numpy_below(records):
    for case in GOAL_CASES + TILE_CASES:
        shape = next(tok for tok in case.split() if tok.count("x") == 2)
        M = int(shape.split("x")[0])
        assert records[case].anchor == (bench.TORCH_ANCHOR if M >= bench.TORCH_MIN_M else bench.NUMPY_ANCHOR), case


def test_packing_cost_and_repack_rows_are_reported(records):
    for M, N, K in bench.GEMM_SHAPES:
        assert any(c.startswith(f"pack_b {K}x{N} ") for c in records)
        assert any(c.startswith(f"gemm_i8 repack {M}x{N}x{K} ") for c in records)
