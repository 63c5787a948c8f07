"""`tessera model demo`: one int8 layer through DMA and the tensor core registers, with counters and energy.

The host puts a random int8 layer (A, B, bias, per-channel MULT/SHIFT) in
DRAM; then, as firmware would, the demo programs the DMA engine and the tensor
core only through their registers on a Bus: weights and parameters come in on
one channel (a two-descriptor chain), the activations in two row blocks, and
the second block's load and the first block's write-back overlap the tensor
core's compute (double buffering). The result is checked bit-exactly against
`native.reference_gemm_i8`, and the counters, derived metrics and energy are
printed.

Usage:
    tessera model demo --profile edge-v1
    from asic_model.demo import run_demo, run_layer; run_demo("tiny") -> exit code
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asic_model.accelerator import DRAM_BASE, SRAM_BASE, Accelerator
from asic_model.driver import Driver, attach, write_descriptor
from asic_model.metrics import derived_metrics
from asic_model.profiles import load_profile
from asic_model.soc_map import CONSTANTS

SEED = 2024
LAYER = (96, 80, 192)  # M, N, K: not multiples of the larger arrays, so edge tiles show up
ZP_OUT = -5
ALIGN = 64
DESC_BYTES = CONSTANTS["DMA_DESC_WORDS"].value * 4
MAX_CYCLES = 10**9


@dataclass
class Layer:
    a: np.ndarray
    b: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    zp: int
    relu: bool


def random_layer(M: int, N: int, K: int, seed: int = SEED) -> Layer:
    rng = np.random.default_rng(seed)
    return Layer(a=rng.integers(-128, 128, (M, K), dtype=np.int8), b=rng.integers(-128, 128, (K, N), dtype=np.int8),
                 bias=rng.integers(-5000, 5000, N, dtype=np.int32), mult=rng.integers(1 << 29, 1 << 30, N, dtype=np.int32),
                 shift=rng.integers(36, 40, N, dtype=np.int32), zp=ZP_OUT, relu=True)


class _Alloc:
    """Bump allocator over a window."""

    def __init__(self, base: int):
        self.next = base

    def __call__(self, nbytes: int) -> int:
        addr = self.next
        self.next += -(-nbytes // ALIGN) * ALIGN
        return addr


def run_layer(acc: Accelerator, layer: Layer) -> np.ndarray:
    """Run `layer` on `acc` through its registers (double-buffered over two row blocks); returns C from DRAM."""
    bus, _ = attach(acc)
    drv = Driver(bus, acc)
    (M, K), N = layer.a.shape, layer.b.shape[1]
    dram, sram = _Alloc(DRAM_BASE), _Alloc(SRAM_BASE)
    # host side: the model in DRAM (params packed bias | mult | shift)
    d_a, d_b, d_p, d_c, d_desc = dram(M * K), dram(K * N), dram(12 * N), dram(M * N), dram(DESC_BYTES)
    for addr, arr in ((d_a, layer.a), (d_b, layer.b), (d_p, np.concatenate([layer.bias, layer.mult, layer.shift]))):
        raw = arr.view(np.uint8).ravel()
        acc.dram.buf[addr - DRAM_BASE:addr - DRAM_BASE + raw.size] = raw
    half = (M + 1) // 2
    blocks = [(0, half), (half, M - half)]
    s_b, s_p = sram(K * N), sram(12 * N)
    s_a = [sram(rows * K) for _, rows in blocks]
    s_c = [sram(rows * N) for _, rows in blocks]
    if sram.next - SRAM_BASE > acc.profile.sram_size:
        raise ValueError(f"layer {M}x{N}x{K} needs {sram.next - SRAM_BASE} bytes of SRAM, profile has {acc.profile.sram_size}")
    # firmware side
    write_descriptor(acc.dram.buf, d_desc - DRAM_BASE, src=d_p, dst=s_p, length=12 * N)
    act_ch = 1 if acc.profile.dma_channels > 1 else 0
    drv.dma_start(0, src=d_b, dst=s_b, length=K * N, next=d_desc)           # weights, then params (chain)
    if act_ch == 0:
        drv.wait_idle(MAX_CYCLES)
    drv.dma_start(act_ch, src=d_a, dst=s_a[0], length=blocks[0][1] * K)     # activations, block 0
    drv.wait_idle(MAX_CYCLES)
    for i, (row0, rows) in enumerate(blocks):
        drv.gemm_start(M=rows, N=N, K=K, a=s_a[i], b=s_b, c=s_c[i], bias=s_p, mult=s_p + 4 * N,
                       shift=s_p + 8 * N, zp=layer.zp, relu=layer.relu)
        if i + 1 < len(blocks):                                              # prefetch the next block
            drv.dma_start(act_ch, src=d_a + blocks[i + 1][0] * K, dst=s_a[i + 1], length=blocks[i + 1][1] * K)
        if i > 0:                                                            # write back the previous block
            drv.dma_start(0, src=s_c[i - 1], dst=d_c + blocks[i - 1][0] * N, length=blocks[i - 1][1] * N)
        drv.wait_idle(MAX_CYCLES)
        for st in (drv.tensor_status(), drv.dma_status(0), drv.dma_status(act_ch)):
            if st.err:
                raise RuntimeError(f"accelerator error code {st.code}")
    row0, rows = blocks[-1]
    drv.dma_start(0, src=s_c[-1], dst=d_c + row0 * N, length=rows * N)
    drv.wait_idle(MAX_CYCLES)
    return acc.dram.buf[d_c - DRAM_BASE:d_c - DRAM_BASE + M * N].view(np.int8).reshape(M, N).copy()


def _fmt_rows(rows: list[tuple[str, str]]) -> str:
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


def run_demo(profile_name: str) -> int:
    import native

    from asic_model.profiles import ProfileError
    try:
        profile = load_profile(profile_name)
    except ProfileError as exc:
        print(f"tessera model demo: {exc}")
        return 2
    acc = Accelerator(profile)
    M, N, K = LAYER
    layer = random_layer(M, N, K)
    c = run_layer(acc, layer)
    ref = native.reference_gemm_i8(layer.a, layer.b, bias=layer.bias, mult=layer.mult, shift=layer.shift,
                                   zp_out=layer.zp, relu=layer.relu)
    ok = np.array_equal(c, ref)
    cnt = acc.counters()
    m = derived_metrics(cnt, profile)
    cycles = cnt["CYCLES"]
    fj = acc.energy_breakdown_fj()
    total_fj = acc.energy_fj()
    p = profile
    print(f"Tessera accelerator model: profile {p.name} ({p.description})")
    print(f"layer  C[{M}x{N}] = relu(requant(A[{M}x{K}] x B[{K}x{N}] + bias)), zp_out {layer.zp}, "
          f"2 row blocks double-buffered over DMA")
    print(f"result {'bit-exact against native.reference_gemm_i8' if ok else 'MISMATCH against native.reference_gemm_i8'}"
          f" ({M * N} int8 outputs)\n")
    share = {k: 100 * v / total_fj for k, v in fj.items()} if total_fj else dict.fromkeys(fj, 0.0)
    print(_fmt_rows([
        ("time", f"{cycles:,} cycles = {acc.seconds(cycles) * 1e6:.2f} us at {_hz(p.clock_hz)}"),
        ("tensor core", f"{cnt['MACS']:,} MACs in {cnt['TC_BUSY']:,} busy cycles: "
                        f"{100 * m['array_utilization']:.1f}% of the {p.array_rows}x{p.array_cols} array while busy"),
        ("DMA", f"{cnt['DMA_TO_SRAM']:,} B in, {cnt['DMA_TO_DRAM']:,} B out in {cnt['DMA_BUSY']:,} busy cycles "
                f"({p.dma_channels} channel{'s' if p.dma_channels > 1 else ''}, {p.dma_bytes_per_cycle} B/cycle)"),
        ("overlap", f"{cnt['OVERLAP']:,} cycles = {_pct(m['overlap_ratio'])} of min(COMPUTE_BUSY, DMA_BUSY); "
                    f"exposed DMA {m['exposed_dma_cycles']:,} cycles"),
        ("SRAM hit rate", f"{_pct(m['sram_hit_rate'])} (1 - DMA_TO_SRAM / (TC_SRAM_RD + VU_SRAM_RD); "
                          f"each byte brought in is read {m['operand_reuse']:.1f}x)" if m["operand_reuse"] else "n/a"),
        ("energy", f"{acc.energy_joules() * 1e6:.3f} uJ: MAC {share['MACS']:.0f}%, "
                   f"SRAM {share['SRAM_RD'] + share['SRAM_WR']:.0f}%, DRAM {share['DRAM_RD'] + share['DRAM_WR']:.0f}%, "
                   f"static {share['CYCLES']:.0f}%"),
        ("efficiency", f"{m['tops_per_watt']:.2f} TOPS/W, {m['gops']:.1f} GOPS over the job"),
    ]))
    print("\ncounters (PERF block)")
    print(_fmt_rows([(k, f"{v:,}") for k, v in cnt.items()]))
    return 0 if ok else 1


def _hz(f: int) -> str:
    return f"{f / 1e9:.3g} GHz" if f >= 10**9 else f"{f / 1e6:.3g} MHz"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
