"""Vector unit through its registers: every op byte-equal to TensorFlow Lite Micro on generated shapes.

Each case builds a one-operator int8 TFLite model (tests/support/tflite_ops.py), runs it in TFLite
Micro's interpreter, and runs the same layer on the VECTOR block with the parameters TFLM derives,
operands placed in SRAM with padded (non-dense) strides.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from asic_model.soc_map import CONSTANTS
from tests.asic_model.conftest import SRAM_BASE, Rig
from tests.support.tflite_ops import add_model, avgpool_model, depthwise_model, maxpool_model, softmax_model

OP = {k[len("VU_OP_"):]: c.value for k, c in CONSTANTS.items() if k.startswith("VU_OP_")}
SENTINEL = 0x5A
PROFILES = st.sampled_from(["tiny", "edge-v1", "edge-v2"])
ACTS = st.sampled_from([None, "RELU", "RELU6"])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Sram:
    """Bump allocator over the rig's SRAM: tensors with padded strides, int32 arrays, sentinel outputs."""

    def __init__(self, r: Rig):
        self.r, self.off = r, 0

    def alloc(self, nbytes: int, align: int = 64) -> int:
        addr = SRAM_BASE + self.off
        self.off = -(-(self.off + nbytes) // align) * align
        assert self.off <= self.r.p.sram_size
        return addr

    def tensor(self, x: np.ndarray | None, shape=None, pad_pix: int = 0, pad_row: int = 0) -> dict:
        """Place HWC int8 `x` (or reserve `shape` filled with SENTINEL); returns address and strides."""
        H, W, C = x.shape if x is not None else shape
        pix = C + pad_pix
        row = W * pix + pad_row
        addr = self.alloc(H * row)
        buf = self.r.acc.sram.buf
        o = addr - SRAM_BASE
        buf[o:o + H * row] = SENTINEL
        if x is not None:
            for h in range(H):
                for w in range(W):
                    buf[o + h * row + w * pix:o + h * row + w * pix + C] = x[h, w].view(np.uint8)
        return {"addr": addr, "row": row, "pix": pix, "shape": (H, W, C)}

    def array(self, a) -> int:
        a = np.ascontiguousarray(a)
        addr = self.alloc(a.nbytes)
        self.r.put(addr, a)
        return addr

    def read(self, t: dict) -> tuple[np.ndarray, bool]:
        """The tensor's HWC values and whether every gap byte still holds the sentinel."""
        H, W, C = t["shape"]
        raw = self.r.get(t["addr"], H * t["row"])
        out = np.stack([np.stack([raw[h * t["row"] + w * t["pix"]:h * t["row"] + w * t["pix"] + C]
                                  for w in range(W)]) for h in range(H)]).view(np.int8)
        mask = np.ones(raw.size, bool)
        for h in range(H):
            for w in range(W):
                mask[h * t["row"] + w * t["pix"]:h * t["row"] + w * t["pix"] + C] = False
        return out, bool((raw[mask] == SENTINEL).all())


def run(r: Rig, op: str, **regs) -> None:
    r.drv.vector_start(OP[op], **regs)
    r.drv.wait_idle()
    s = r.drv.vector_status()
    assert s.done and not s.err, s


def io_regs(inp: dict, out: dict, prefix: str = "IN") -> dict:
    return {f"{prefix}_ADDR": inp["addr"], f"{prefix}_ROW_STRIDE": inp["row"], f"{prefix}_PIX_STRIDE": inp["pix"],
            "OUT_ADDR": out["addr"], "OUT_ROW_STRIDE": out["row"], "OUT_PIX_STRIDE": out["pix"]}


def window_regs(m, x_shape) -> dict:
    p, o = m.params, m.options
    return dict(IN_H=x_shape[0], IN_W=x_shape[1], C=x_shape[2], OUT_H=p["out_h"], OUT_W=p["out_w"],
                K_H=o["kernel"][0], K_W=o["kernel"][1], STRIDE_H=o["stride"][0], STRIDE_W=o["stride"][1],
                PAD_T=p["pad_t"], PAD_L=p["pad_l"], ACT_MIN=p["act_min"], ACT_MAX=p["act_max"])


def _valid(padding, k, size):
    return padding == "SAME" or k <= size


def run_depthwise(r: Rig, m, x: np.ndarray, pads=(0, 0, 0, 0)) -> tuple[np.ndarray, bool]:
    p = m.params
    s = Sram(r)
    cout = x.shape[2] * m.options["depth_multiplier"]
    inp = s.tensor(x, pad_pix=pads[0], pad_row=pads[1])
    out = s.tensor(None, (p["out_h"], p["out_w"], cout), pad_pix=pads[2], pad_row=pads[3])
    regs = dict(window_regs(m, x.shape), **io_regs(inp, out), DEPTH_MULT=m.options["depth_multiplier"],
                W_ADDR=s.array(m.constants["filter"]), BIAS_ADDR=s.array(m.constants["bias"]),
                MULT_ADDR=s.array(p["mult"]), SHIFT_ADDR=s.array(p["shift"]), ZP_IN=p["input_offset"],
                ZP_OUT=p["output_offset"])
    run(r, "DWCONV", **regs)
    return s.read(out)


@SLOW
@given(h=st.integers(1, 10), w=st.integers(1, 10), c=st.sampled_from([1, 3, 5, 8, 13]), dm=st.integers(1, 2),
       kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 2), sw=st.integers(1, 2),
       padding=st.sampled_from(["SAME", "VALID"]), act=ACTS, seed=st.integers(0, 2**16), profile=PROFILES,
       pads=st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 3), st.integers(0, 5)))
def test_depthwise_equals_tflm(h, w, c, dm, kh, kw, sh, sw, padding, act, seed, profile, pads):
    if not (_valid(padding, kh, h) and _valid(padding, kw, w)):
        return
    m = depthwise_model((h, w, c), kernel=(kh, kw), stride=(sh, sw), padding=padding, depth_multiplier=dm,
                        activation=act, seed=seed)
    x = np.random.default_rng(seed + 1).integers(-128, 128, m.input_shapes[0], dtype=np.int8)
    got, gaps_ok = run_depthwise(Rig(profile), m, x[0], pads)
    assert np.array_equal(got, m.run(x)[0])
    assert gaps_ok


def test_depthwise_row_tiles_with_halo_equal_the_whole_layer():
    """Two output-row tiles, each handed the input rows its windows touch (PAD_T only on the first),
    reproduce TFLM's whole layer: padding is only where the tile ends at the tensor's edge."""
    m = depthwise_model((12, 7, 6), kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU6", seed=4)
    x = np.random.default_rng(9).integers(-128, 128, m.input_shapes[0], dtype=np.int8)[0]
    want = m.run(x[None])[0]
    p = m.params
    r = Rig("edge-v1")
    s = Sram(r)
    common = dict(W_ADDR=s.array(m.constants["filter"]), BIAS_ADDR=s.array(m.constants["bias"]),
                  MULT_ADDR=s.array(p["mult"]), SHIFT_ADDR=s.array(p["shift"]), ZP_IN=p["input_offset"],
                  ZP_OUT=p["output_offset"], ACT_MIN=p["act_min"], ACT_MAX=p["act_max"], C=6, K_H=3, K_W=3,
                  OUT_W=7, IN_W=7, PAD_L=1)
    rows = []
    for oh0, oh1 in ((0, 5), (5, 12)):
        ih0, ih1 = max(oh0 - 1, 0), min(oh1 + 1, 12)             # the halo rows the windows touch
        inp = s.tensor(x[ih0:ih1])
        out = s.tensor(None, (oh1 - oh0, 7, 6))
        run(r, "DWCONV", **common, **io_regs(inp, out), IN_H=ih1 - ih0, OUT_H=oh1 - oh0, PAD_T=1 if oh0 == 0 else 0)
        r.drv.vector_clear()
        rows.append(s.read(out)[0])
    assert np.array_equal(np.concatenate(rows), want)


@SLOW
@given(h=st.integers(1, 10), w=st.integers(1, 10), c=st.sampled_from([1, 2, 3, 7, 16]), kh=st.integers(1, 5),
       kw=st.integers(1, 5), sh=st.integers(1, 2), sw=st.integers(1, 2), padding=st.sampled_from(["SAME", "VALID"]),
       act=ACTS, seed=st.integers(0, 2**16), profile=PROFILES, kind=st.sampled_from(["AVGPOOL", "MAXPOOL"]),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 5)))
def test_pools_equal_tflm(h, w, c, kh, kw, sh, sw, padding, act, seed, profile, kind, pads):
    if not (_valid(padding, kh, h) and _valid(padding, kw, w)):
        return
    make = avgpool_model if kind == "AVGPOOL" else maxpool_model
    m = make((h, w, c), kernel=(kh, kw), stride=(sh, sw), padding=padding, activation=act, seed=seed)
    x = np.random.default_rng(seed + 2).integers(-128, 128, m.input_shapes[0], dtype=np.int8)
    r = Rig(profile)
    s = Sram(r)
    inp = s.tensor(x[0], pad_pix=pads[0], pad_row=pads[1])
    out = s.tensor(None, (m.params["out_h"], m.params["out_w"], c), pad_pix=pads[1], pad_row=pads[0])
    run(r, kind, **window_regs(m, x.shape[1:]), **io_regs(inp, out))
    got, gaps_ok = s.read(out)
    assert np.array_equal(got, m.run(x)[0])
    assert gaps_ok


def test_average_pool_rounds_half_away_from_zero_over_in_bounds_taps():
    """A 2x2 SAME pool at the corner averages 1 tap, the edges 2, the inside 4: -1.5 -> -2, 2.5 -> 3."""
    m = avgpool_model((3, 3, 1), kernel=(2, 2), stride=(1, 1), padding="SAME", seed=0, q=(0.05, 0))
    x = np.array([[-1, -2, 4], [0, -3, 1], [5, 0, 7]], np.int8).reshape(1, 3, 3, 1)
    want = m.run(x)[0]
    r = Rig("tiny")
    s = Sram(r)
    inp, out = s.tensor(x[0]), s.tensor(None, (3, 3, 1))
    run(r, "AVGPOOL", **window_regs(m, (3, 3, 1)), **io_regs(inp, out))
    got = s.read(out)[0]
    assert np.array_equal(got, want)
    assert got[0, 0, 0] == -2 and got[2, 2, 0] == 7 and got[1, 2, 0] == 4      # (-1-2+0-3)/4 = -1.5; 7; (1+7)/2


@SLOW
@given(h=st.integers(1, 8), w=st.integers(1, 8), c=st.sampled_from([1, 3, 16, 33]), act=ACTS,
       seed=st.integers(0, 2**16), profile=PROFILES, in_place=st.booleans(),
       pads=st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 3)))
def test_add_equals_tflm(h, w, c, act, seed, profile, in_place, pads):
    m = add_model((h, w, c), activation=act, seed=seed)
    rng = np.random.default_rng(seed + 3)
    x1, x2 = (rng.integers(-128, 128, s_, dtype=np.int8) for s_ in m.input_shapes)
    p = m.params
    r = Rig(profile)
    s = Sram(r)
    a = s.tensor(x1[0], pad_pix=pads[0], pad_row=pads[1])
    b = s.tensor(x2[0], pad_pix=pads[2])
    out = a if in_place else s.tensor(None, (h, w, c), pad_pix=pads[1], pad_row=pads[2])
    regs = dict(io_regs(a, out), IN2_ADDR=b["addr"], IN2_ROW_STRIDE=b["row"], IN2_PIX_STRIDE=b["pix"], C=c, OUT_H=h,
                OUT_W=w, ZP_IN=p["input1_offset"], ZP_IN2=p["input2_offset"], ZP_OUT=p["output_offset"],
                LEFT_SHIFT=p["left_shift"], IN_MULT=p["input1_multiplier"], IN_SHIFT=p["input1_shift"],
                IN2_MULT=p["input2_multiplier"], IN2_SHIFT=p["input2_shift"], OUT_MULT=p["output_multiplier"],
                OUT_SHIFT=p["output_shift"], ACT_MIN=p["act_min"], ACT_MAX=p["act_max"])
    run(r, "ADD", **regs)
    got, gaps_ok = s.read(out)
    assert np.array_equal(got, m.run(x1, x2)[0])
    assert gaps_ok


@SLOW
@given(h=st.integers(1, 4), w=st.integers(1, 4), c=st.sampled_from([1, 2, 10, 12, 37, 100]),
       beta=st.sampled_from([1.0, 0.5, 2.0, 0.125]), seed=st.integers(0, 2**16), profile=PROFILES,
       pad=st.integers(0, 3), ties=st.booleans())
def test_softmax_equals_tflm(h, w, c, beta, seed, profile, pad, ties):
    m = softmax_model((1, h, w, c), beta=beta, seed=seed)
    rng = np.random.default_rng(seed + 4)
    x = rng.integers(-128, 128, (1, h, w, c), dtype=np.int8)
    if ties:
        x = (x // 32 * 32).astype(np.int8)                      # many equal maxima and exact diffs
    p = m.params
    r = Rig(profile)
    s = Sram(r)
    inp = s.tensor(x[0], pad_pix=pad)
    out = s.tensor(None, (h, w, c), pad_row=pad)
    run(r, "SOFTMAX", **io_regs(inp, out), C=c, OUT_H=h, OUT_W=w, IN_MULT=p["input_multiplier"],
        IN_SHIFT=p["input_left_shift"], DIFF_MIN=p["diff_min"])
    got, gaps_ok = s.read(out)
    assert np.array_equal(got, m.run(x)[0])
    assert gaps_ok


def test_fill_writes_the_zero_point_over_the_region_only():
    r = Rig("edge-v1")
    s = Sram(r)
    out = s.tensor(None, (3, 5, 7), pad_pix=2, pad_row=3)
    run(r, "FILL", OUT_ADDR=out["addr"], OUT_ROW_STRIDE=out["row"], OUT_PIX_STRIDE=out["pix"], C=7, OUT_H=3, OUT_W=5,
        ZP_OUT=-37)
    got, gaps_ok = s.read(out)
    assert (got == -37).all() and gaps_ok


def run_vu_layer(r: Rig, m, xs: list[np.ndarray]) -> np.ndarray:
    """Run the single-op TFLite model `m` (DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SOFTMAX) on
    the vector unit with dense NHWC operands; returns the output in the model's output shape."""
    p, out_shape = m.params, m.output.shape
    if m.op == "DEPTHWISE_CONV_2D":
        return run_depthwise(r, m, xs[0][0])[0].reshape(out_shape)
    s = Sram(r)
    hwc = xs[0].reshape(-1, xs[0].shape[-1])[None] if xs[0].ndim == 2 else xs[0][0]
    inp = s.tensor(hwc)
    if m.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        out = s.tensor(None, out_shape[1:])
        run(r, "AVGPOOL" if m.op == "AVERAGE_POOL_2D" else "MAXPOOL", **window_regs(m, hwc.shape), **io_regs(inp, out))
    elif m.op == "ADD":
        b = s.tensor(xs[1][0])
        out = s.tensor(None, hwc.shape)
        run(r, "ADD", **io_regs(inp, out), IN2_ADDR=b["addr"], IN2_ROW_STRIDE=b["row"], IN2_PIX_STRIDE=b["pix"],
            C=hwc.shape[2], OUT_H=hwc.shape[0], OUT_W=hwc.shape[1], ZP_IN=p["input1_offset"],
            ZP_IN2=p["input2_offset"], ZP_OUT=p["output_offset"], LEFT_SHIFT=p["left_shift"],
            IN_MULT=p["input1_multiplier"], IN_SHIFT=p["input1_shift"], IN2_MULT=p["input2_multiplier"],
            IN2_SHIFT=p["input2_shift"], OUT_MULT=p["output_multiplier"], OUT_SHIFT=p["output_shift"],
            ACT_MIN=p["act_min"], ACT_MAX=p["act_max"])
    else:
        out = s.tensor(None, hwc.shape)
        run(r, "SOFTMAX", **io_regs(inp, out), C=hwc.shape[2], OUT_H=hwc.shape[0], OUT_W=hwc.shape[1],
            IN_MULT=p["input_multiplier"], IN_SHIFT=p["input_left_shift"], DIFF_MIN=p["diff_min"])
    return s.read(out)[0].reshape(out_shape)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(["DWCONV", "AVGPOOL", "MAXPOOL", "ADD"]), h=st.integers(1, 7), w=st.integers(1, 7),
       c=st.integers(1, 40), dm=st.integers(1, 3), k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=st.integers(0, 2**32 - 1), bias=st.booleans())
def test_c_kernels_equal_the_numpy_statement(op, h, w, c, dm, k, stride, seed, bias):
    """The C kernels (native/vu_ops.c) against the numpy statement in asic_model/vector_unit.py, with
    parameters beyond what TFLM derives: any multiplier, every shift, offsets and clamps at their limits."""
    rng = np.random.default_rng(seed)
    kh, kw = k
    pad_t, pad_l = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    out_h = max(1, (h + pad_t - 1) // stride[0] + 1 if op != "ADD" else h)
    out_w = max(1, (w + pad_l - 1) // stride[1] + 1 if op != "ADD" else w)
    if op != "ADD":                                         # keep every window overlapping the tile
        out_h = min(out_h, (h - 1 + pad_t) // stride[0] + 1)
        out_w = min(out_w, (w - 1 + pad_l) // stride[1] + 1)
    cout = c * dm if op == "DWCONV" else c
    r = Rig("edge-v1")
    s = Sram(r)
    inp = s.tensor(rng.integers(-128, 128, (h, w, c), dtype=np.int8), pad_pix=int(rng.integers(0, 3)))
    in2 = s.tensor(rng.integers(-128, 128, (h, w, c), dtype=np.int8))
    out = s.tensor(None, (out_h, out_w, cout), pad_row=int(rng.integers(0, 4)))
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
    regs = dict(io_regs(inp, out), IN2_ADDR=in2["addr"], IN2_ROW_STRIDE=in2["row"], IN2_PIX_STRIDE=in2["pix"],
                IN_H=h, IN_W=w, C=c, OUT_H=out_h, OUT_W=out_w, K_H=kh, K_W=kw, STRIDE_H=stride[0], STRIDE_W=stride[1],
                PAD_T=pad_t, PAD_L=pad_l, DEPTH_MULT=dm, ZP_IN=int(rng.integers(-127, 129)),
                ZP_IN2=int(rng.integers(-127, 129)), ZP_OUT=int(rng.integers(-128, 128)), ACT_MIN=lo, ACT_MAX=hi,
                LEFT_SHIFT=int(rng.integers(0, 24)), IN_MULT=int(rng.integers(0, 2**31)),
                IN2_MULT=int(rng.integers(0, 2**31)), OUT_MULT=int(rng.integers(0, 2**31)),
                IN_SHIFT=int(rng.integers(-31, 1)), IN2_SHIFT=int(rng.integers(-31, 1)),
                OUT_SHIFT=int(rng.integers(-31, 1)))
    if op == "DWCONV":
        regs.update(W_ADDR=s.array(rng.integers(-128, 128, kh * kw * cout, dtype=np.int8)),
                    BIAS_ADDR=s.array(rng.integers(-2**31, 2**31, cout, dtype=np.int64).astype(np.int32)) if bias else 0,
                    MULT_ADDR=s.array(rng.integers(0, 2**31, cout).astype(np.int32)),
                    SHIFT_ADDR=s.array(rng.integers(-31, 32, cout).astype(np.int32)))
    r.drv.vector_start(OP[op], **regs)
    vu = r.acc.vector
    assert vu.busy, r.drv.vector_status()
    want = vu._compute_numpy(vu.op)                          # operands as they are, before completion
    r.drv.wait_idle()
    got, gaps_ok = s.read(out)
    assert np.array_equal(got, want) and gaps_ok
