"""Lower the IR to a version-2 model image for one profile: memory plan, tiles and the command stream.

Plan (all decided here, at compile time, for the profile):
- Activations are NHWC int8. Each gets a buffer in the SRAM activation arena
  (first fit over the layers' live ranges) or, when it does not fit, in the DRAM
  workspace (a spill: every DMA touching it carries CTRL.SPILL). A tensor read
  by a convolution on the TENSOR unit carries a halo of its zero point as wide
  as the largest padding its consumers need (filled by DMA from a zero-point
  block in the image), so padded taps contribute (zp - zp) * w = 0 exactly as
  TFLite Micro's skipped taps do. RESHAPE aliases its input's buffer.
- CONV_2D and FULLY_CONNECTED run as GEMM on the TENSOR unit (QMODE_TFL):
  A = im2col rows gathered by 2-D DMA (one segment per output row and kernel
  row: KW*Cin contiguous bytes per output pixel, source stride stride_w*Cin),
  B = weights [KH*KW*Cin, Cout] from the image, bias' = bias - zp_in * sum_k B
  (the input zero point folded in), per-channel multiplier and signed shift.
  Output pixels are cut into M tiles (multiples of the array rows) and
  channels into N tiles (multiples of the array columns) sized to the work
  area; A and C tiles and the weight tiles are double-buffered so the next
  tile's gather and the previous tile's write-back overlap the GEMM.
- DEPTHWISE_CONV_2D, pools, ADD and SOFTMAX run on the VECTOR unit (operands
  in SRAM); PAD is DMA only (zero-point fill, then the input copied inside).
The stream is built by compiler/stream.py, which inserts only the waits the
data dependencies need; the image by compiler/image.py.

Usage:
    cm = lower(model, load_profile("edge-v1"))      # -> LoweredModel
    cm.image, cm.plan (per-tensor placement), cm.stats
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from asic_model.soc_map import CONSTANTS, region
from compiler import ir
from compiler.errors import CompileError
from compiler.image import build_image_v2
from compiler.stream import Ref, StreamBuilder, span
from firmware import protocol_v1 as P
from native.tfl_math import wrap_int32 as wrap32

SRAM_BASE = region("SRAM").base
ALIGN = 16                      # every buffer starts 16-byte aligned
PARAM_WORDS = 3                 # bias', mult, shift: int32 per output channel
INT32_BYTES = 4
WORK_SHARE = 2                  # the work area gets 1/WORK_SHARE of SRAM, activations the rest
MIN_M_TILES = 4                 # aim for at least this many M tiles per GEMM layer (overlap)
DEFAULT_MAX_ROWS = 1
NO_HALO = ir.Padding()
DESC_BYTES = CONSTANTS["DMA_DESC_WORDS"].value * INT32_BYTES


def _align(n: int, a: int = ALIGN) -> int:
    return n + (-n % a)


def gemm_operands(layer) -> tuple[np.ndarray, np.ndarray]:
    """B [K, N] (conv: K ordered (ky, kx, cin) as the im2col gather lays A out) and the bias with the input
    zero point folded in, bias'[n] = bias[n] - zp_in * sum_k B[k, n] (int32, wrapping as the unit's accumulator)."""
    n = layer.weights.shape[0]
    w = layer.weights.reshape(n, -1).astype(np.int64).T
    return w, wrap32(layer.bias.astype(np.int64) - layer.zp_in * w.sum(axis=0)).astype("<i4")


@dataclass
class Buffer:
    """Where an activation lives: a Ref to its first byte (halo included), its NHWC dims and halo."""

    ref: Ref
    h: int
    w: int
    c: int
    halo: ir.Padding
    spill: bool

    @property
    def wp(self) -> int:
        return self.w + self.halo.left + self.halo.right

    @property
    def hp(self) -> int:
        return self.h + self.halo.top + self.halo.bottom

    @property
    def row_stride(self) -> int:
        return self.wp * self.c

    @property
    def nbytes(self) -> int:
        return self.hp * self.wp * self.c

    @property
    def in_sram(self) -> bool:
        return self.ref.space == P.RELOC_NONE

    @property
    def dense_rows(self) -> bool:
        """Pixels of consecutive rows are contiguous (no left/right halo)."""
        return self.halo.left == 0 and self.halo.right == 0

    def pixel(self, y: int, x: int) -> Ref:
        """Address of interior pixel (y, x); y and x may reach into the halo (negative / past the edge)."""
        return self.ref + ((y + self.halo.top) * self.wp + (x + self.halo.left)) * self.c


@dataclass
class LoweredModel:
    """The image and what the compiler decided, for reports and tests."""

    image: bytes
    profile: str
    footprint: int
    input_offset: int
    input_bytes: int
    output_offset: int
    output_bytes: int
    max_rows: int
    sram_bytes: int
    plan: dict[int, str] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


def _dims(act: ir.Activation) -> tuple[int, int, int]:
    s = act.shape
    if len(s) == 4:
        return s[1], s[2], s[3]
    if len(s) == 2:
        return 1, 1, s[1]
    return 1, int(np.prod(s[1:-1])), s[-1]      # rank 3 (or 5+): the last axis stays the channel axis (softmax's)


class _Constants:
    """The image's constant area: 16-aligned blobs at offsets from the image start."""

    def __init__(self):
        self.data = bytearray()
        self.zp_blocks: dict[int, int] = {}

    def add(self, blob: bytes) -> int:
        self.data += bytes(-len(self.data) % ALIGN)
        off = P.MODEL_HEADER_SIZE + len(self.data)
        self.data += blob
        return off

    def image_ref(self, off: int) -> Ref:
        return Ref(P.RELOC_IMAGE, off)


class Lowerer:
    def __init__(self, model: ir.Model, profile, max_rows: int = DEFAULT_MAX_ROWS, chains: bool = True):
        self.m = model
        self.use_chains = chains
        self.p = profile
        self.max_rows = max_rows
        self.sb = StreamBuilder(profile)
        self.k = _Constants()
        self.work_size = profile.sram_size // WORK_SHARE
        self.arena_size = profile.sram_size - self.work_size
        self.work_base = SRAM_BASE + self.arena_size
        self.buffers: dict[int, Buffer] = {}
        self.ws_size = 0
        self.arena_used = 0
        self.work_used = 0

    # ------------------------------------------------------------ errors
    def fail(self, layer: ir.Layer, message: str) -> CompileError:
        t = self.m.tensors[layer.output]
        return CompileError(f"{self.m.name}: operator {layer.index} ({layer.op}), tensor {t.index} '{t.name}': "
                            f"on profile {self.p.name}, {message}")

    # ------------------------------------------------------------ memory plan
    def _halos(self) -> dict[int, ir.Padding]:
        halo = {t: NO_HALO for t in self.m.tensors}
        for layer in self.m.layers:
            if isinstance(layer, ir.Conv2D):
                h, pad = halo[layer.inputs[0]], layer.pad
                halo[layer.inputs[0]] = ir.Padding(max(h.top, pad.top), max(h.bottom, pad.bottom),
                                                   max(h.left, pad.left), max(h.right, pad.right))
        return halo

    def plan_memory(self) -> None:
        m = self.m
        halo = self._halos()
        alias: dict[int, int] = {}
        for layer in m.layers:
            if isinstance(layer, ir.Reshape):
                src = alias.get(layer.inputs[0], layer.inputs[0])
                if halo[src] != NO_HALO or halo[layer.output] != NO_HALO:
                    raise self.fail(layer, "a reshape of a tensor that a padded convolution reads is not supported")
                alias[layer.output] = src
        order = {layer.output: i for i, layer in enumerate(m.layers)}
        order[m.input] = -1
        last = {t: order[t] for t in m.tensors if t in order}
        for i, layer in enumerate(m.layers):
            for t in layer.inputs:
                root = alias.get(t, t)
                last[root] = max(last.get(root, -1), i)
        root_out = alias.get(m.output, m.output)
        last[root_out] = len(m.layers)
        live: list[tuple[int, int, int, int]] = []       # (start, end, offset, size) of SRAM placements
        for t in sorted((t for t in m.tensors if t not in alias and t in order), key=lambda t: order[t]):
            h, w, c = _dims(m.tensors[t])
            buf_size = (h + halo[t].top + halo[t].bottom) * (w + halo[t].left + halo[t].right) * c
            start, end = order[t], last[t]
            off = self._first_fit(live, start, end, _align(buf_size))
            if off is None:
                # a DRAM workspace placeholder, resolved by self.ref() once the image size is known
                self.ws_size = _align(self.ws_size)
                ref, spill = Ref(P.RELOC_IMAGE, -(1 + self.ws_size)), True
                self.ws_size += buf_size
            else:
                live.append((start, end, off, _align(buf_size)))
                self.arena_used = max(self.arena_used, off + _align(buf_size))
                ref, spill = Ref(P.RELOC_NONE, SRAM_BASE + off), False
            self.buffers[t] = Buffer(ref, h, w, c, halo[t], spill)
        for t, src in alias.items():
            b = self.buffers[src]
            h, w, c = _dims(m.tensors[t])
            self.buffers[t] = Buffer(b.ref, h, w, c, NO_HALO, b.spill)

    def _first_fit(self, live, start: int, end: int, size: int) -> int | None:
        busy = sorted((o, o + s) for s0, e0, o, s in live if s0 <= end and start <= e0)
        at = 0
        for lo, hi in busy:
            if at + size <= lo:
                break
            at = max(at, hi)
        return at if at + size <= self.arena_size else None

    def _fix_workspace(self, image_end: int) -> None:
        """Workspace buffers were numbered -(1 + offset); place them after the image, input and output."""
        base = _align(image_end)
        self.input_offset = base
        self.input_bytes = self.m.tensors[self.m.input].size
        self.output_offset = _align(base + self.max_rows * self.input_bytes)
        self.output_bytes = self.m.tensors[self.m.output].size
        self.ws_base = _align(self.output_offset + self.max_rows * self.output_bytes)
        self.footprint = self.ws_base + self.ws_size

    # ------------------------------------------------------------ helpers
    def ref(self, r: Ref) -> Ref:
        """Resolve a placeholder workspace Ref."""
        if r.space == P.RELOC_IMAGE and r.offset < 0:
            return Ref(P.RELOC_IMAGE, self.ws_base - 1 - r.offset)
        return r

    def buf(self, t: int) -> Buffer:
        b = self.buffers[t]
        return Buffer(self.ref(b.ref), b.h, b.w, b.c, b.halo, b.spill)

    def dma(self, src: Ref, dst: Ref, length: int, rows: int = 1, src_stride: int = 0, dst_stride: int = 0,
            spill: bool = False) -> None:
        self.sb.dma(src, dst, length, rows, src_stride, dst_stride, spill)

    def zp_block(self, zp: int, length: int) -> Ref:
        key = zp
        have = self.k.zp_blocks.get(key)
        if have is None or have[1] < length:
            off = self.k.add(bytes([zp & 0xFF]) * length)
            self.k.zp_blocks[key] = (off, length)
            have = (off, length)
        return self.k.image_ref(have[0])

    def fill_halo(self, b: Buffer, zp: int) -> None:
        """Write the zero point into every halo byte of a buffer (4 strided DMAs from a zero-point block)."""
        hl = b.halo
        if hl == NO_HALO:
            return
        if hl.top:
            self.dma(self.zp_block(zp, b.row_stride), b.ref, b.row_stride, hl.top, 0, b.row_stride, b.spill)
        if hl.bottom:
            self.dma(self.zp_block(zp, b.row_stride), b.pixel(b.h, -hl.left), b.row_stride, hl.bottom, 0,
                     b.row_stride, b.spill)
        if hl.left:
            self.dma(self.zp_block(zp, hl.left * b.c), b.pixel(0, -hl.left), hl.left * b.c, b.h, 0, b.row_stride,
                     b.spill)
        if hl.right:
            self.dma(self.zp_block(zp, hl.right * b.c), b.pixel(0, b.w), hl.right * b.c, b.h, 0, b.row_stride,
                     b.spill)

    def copy_into(self, src: Ref, src_row: int, dst: Buffer, spill: bool) -> None:
        """Copy a dense [h, w, c] tensor at src (rows src_row bytes apart) into the interior of dst."""
        if dst.dense_rows:
            self.dma(src, dst.pixel(0, 0), dst.h * dst.w * dst.c, 1, 0, 0, spill)
        else:
            self.dma(src, dst.pixel(0, 0), dst.w * dst.c, dst.h, src_row, dst.row_stride, spill)

    # ------------------------------------------------------------ GEMM layers
    def gemm_layer(self, layer, half: int):
        """Plan a GEMM layer in one half of the work area; returns (prefetch, emit) closures.

        prefetch() issues the first weight-tile load (the previous GEMM layer calls it after its first
        GEMM, so this layer's weights arrive while that layer computes); emit() issues the rest.
        """
        m = self.m
        x, y = self.buf(layer.inputs[0]), self.buf(layer.output)
        if isinstance(layer, ir.FullyConnected):
            w, bias = gemm_operands(layer)
            kh = kw = 1
            stride, dil, pad = (1, 1), (1, 1), NO_HALO
            oh, ow = 1, 1
            cin = w.shape[0]
            if x.halo != NO_HALO:
                raise self.fail(layer, "a fully connected input that a padded convolution also reads is not supported")
            x = Buffer(x.ref, 1, 1, cin, NO_HALO, x.spill)
        else:
            cout, kh, kw, cin = layer.weights.shape
            w, bias = gemm_operands(layer)
            stride, dil, pad = layer.stride, layer.dilation, layer.pad
            _, oh, ow, _ = m.tensors[layer.output].shape
        kc, n = w.shape
        pixels = oh * ow
        rq = layer.rq
        R, C = self.p.array_rows, self.p.array_cols

        budget = self.half_size
        # N tiles: all channels at once when the weights fit in half the work area, else double-buffered tiles
        def b_bytes(nt):
            return _align(kc * nt, INT32_BYTES) + PARAM_WORDS * INT32_BYTES * nt
        if b_bytes(n) <= budget // 2:
            nt, b_bufs = n, 1
        else:
            nt = max(1, ((budget // 4) // b_bytes(1)))
            nt = max(1, (nt // C) * C) if nt >= C else nt
            b_bufs = 2
            if 2 * _align(b_bytes(nt)) > budget // 2:
                raise self.fail(layer, f"a weight tile of K={kc} (KH*KW*Cin) does not fit the {budget}-byte "
                                       "work area; K is not split: use a profile with more SRAM")
        n_tiles = [(n0, min(nt, n - n0)) for n0 in range(0, n, nt)]
        b_area = b_bufs * _align(b_bytes(nt))
        # A: direct when the input pixels are the im2col rows already (FC, 1x1 stride-1 unpadded conv) in SRAM
        direct_a = x.in_sram and kh == kw == 1 and stride == (1, 1) and pad == NO_HALO and x.dense_rows \
            and x.halo.top == 0
        direct_c = y.in_sram and len(n_tiles) == 1 and y.dense_rows
        per_row = (0 if direct_a else 2 * kc) + (0 if direct_c else 2 * nt)
        rest = budget - b_area
        if per_row and rest < per_row:
            raise self.fail(layer, f"one im2col row of K={kc} (KH*KW*Cin) does not fit the {budget}-byte "
                                  "work area; K is not split: use a profile with more SRAM")
        mt = pixels if not per_row else min(pixels, rest // per_row)
        target = -(-pixels // MIN_M_TILES)
        target = -(-target // R) * R
        mt = max(1, min(mt, max(R, target)))
        if mt >= R:
            mt = (mt // R) * R
        m_tiles = [(p0, min(mt, pixels - p0)) for p0 in range(0, pixels, mt)]
        steps = [(i, j) for j in range(len(n_tiles)) for i in range(len(m_tiles))]

        # work area layout
        base = self.work_base + half * self.half_size
        b_refs = [Ref(P.RELOC_NONE, base + i * _align(b_bytes(nt))) for i in range(b_bufs)]
        at = base + b_area
        a_refs = [] if direct_a else [Ref(P.RELOC_NONE, _align(at) + i * _align(mt * kc)) for i in range(2)]
        at = _align(at) + (0 if direct_a else 2 * _align(mt * kc))
        c_refs = [] if direct_c else [Ref(P.RELOC_NONE, _align(at) + i * _align(mt * nt)) for i in range(2)]
        at = _align(at) + (0 if direct_c else 2 * _align(mt * nt))
        self.work_used = max(self.work_used, at - self.work_base)

        # constants: per N tile, the weight tile [kc, ntj] then bias', mult, shift (int32 each)
        blobs = []
        for n0, ntj in n_tiles:
            wt = w[:, n0:n0 + ntj].astype(np.int8).tobytes()
            wt += bytes(-len(wt) % INT32_BYTES)
            params = (bias[n0:n0 + ntj].tobytes() + rq.mult[n0:n0 + ntj].astype("<i4").tobytes()
                      + rq.shift[n0:n0 + ntj].astype("<i4").tobytes())
            blobs.append((self.k.add(wt + params), _align(kc * ntj, INT32_BYTES), len(wt) + len(params)))

        def load_b(j):
            off, wbytes, total = blobs[j]
            self.dma(self.k.image_ref(off), b_refs[j % b_bufs], total)

        def segments(s):
            """The gather of step s as DMA segments (src, dst, length, rows, src_stride, dst_stride)."""
            i = steps[s][0]
            p0, mtj = m_tiles[i]
            dst = a_refs[s % 2]
            if isinstance(layer, ir.FullyConnected):
                return [(x.pixel(0, 0), dst, kc, 1, 0, 0)]
            segs = []
            p = p0
            while p < p0 + mtj:
                oy, ox = divmod(p, ow)
                cnt = min(ow - ox, p0 + mtj - p)
                row_dst = dst + (p - p0) * kc
                for ky in range(kh):
                    iy = oy * stride[0] + ky * dil[0] - pad.top
                    if dil[1] == 1:
                        src = x.pixel(iy, ox * stride[1] - pad.left)
                        segs.append((src, row_dst + ky * kw * cin, kw * cin, cnt, stride[1] * cin, kc))
                    else:
                        for kx in range(kw):
                            src = x.pixel(iy, ox * stride[1] + kx * dil[1] - pad.left)
                            segs.append((src, row_dst + (ky * kw + kx) * cin, cin, cnt, stride[1] * cin, kc))
                p += cnt
            return segs

        # Descriptor chains: when the input is in SRAM every gather address is absolute, so the segments after
        # the first of each gather are stored as in-memory descriptors (one image blob per layer, DMA'd into
        # the work area once) and a gather is one channel start instead of one per segment.
        chains: dict[tuple[int, int], list[tuple[int, int, Ref, int]]] = {}
        chain_blob = bytearray()
        chain_base = Ref(P.RELOC_NONE, _align(at))
        per_block = kh if dil[1] == 1 else kh * kw          # segments per output-row block of a gather

        def groups(segs):
            """Split a gather's segments at row-block boundaries, one group per DMA channel."""
            blocks = -(-len(segs) // per_block)
            n = min(self.p.dma_channels, blocks)
            cuts = [per_block * (blocks * g // n) for g in range(n)] + [len(segs)]
            return [(cuts[g], cuts[g + 1]) for g in range(n) if cuts[g] < cuts[g + 1]]

        if not direct_a and x.in_sram and self.use_chains and not isinstance(layer, ir.FullyConnected):
            for s in range(len(steps)):
                key = (steps[s][0], s % 2)
                if key in chains:
                    continue
                segs = segments(s)
                chains[key] = []
                for lo, hi in groups(segs):
                    start = len(chain_blob)
                    for n_i in range(lo + 1, hi):
                        src, dst, length, rows, ss, ds = segs[n_i]
                        nxt = 0 if n_i == hi - 1 else chain_base.offset + len(chain_blob) + DESC_BYTES
                        chain_blob += np.array([src.offset, dst.offset, length, rows, ss, ds, 0, nxt],
                                               "<u4").tobytes()
                    chains[key].append((lo, hi, chain_base + start, hi - lo - 1))
            if chain_base.offset + len(chain_blob) > base + budget:
                chains, chain_blob = {}, bytearray()
        if chain_blob:
            self.work_used = max(self.work_used, chain_base.offset + len(chain_blob) - self.work_base)
            chain_off = self.k.add(bytes(chain_blob))

        def gather(s):
            segs = segments(s)
            key = (steps[s][0], s % 2)
            if key not in chains:
                for seg in segs:
                    self.dma(*seg, spill=x.spill)
                return
            for lo, hi, ref, n in chains[key]:
                if n == 0:
                    self.dma(*segs[lo])
                else:
                    self.sb.dma(*segs[lo], next_ref=ref, chain=tuple(segs[lo + 1:hi]),
                                chain_span=span(ref, n * DESC_BYTES))

        # A and C staging buffers alternate by step (so the next gather and the previous write-back
        # never touch the buffers the running GEMM uses)
        def a_of(s):
            if direct_a:
                return x.pixel(0, 0) + m_tiles[steps[s][0]][0] * cin, cin
            return a_refs[s % 2], kc

        def c_of(s):
            if direct_c:
                return y.pixel(0, 0) + m_tiles[steps[s][0]][0] * n, n
            return c_refs[s % 2], nt

        def scatter(s):
            if direct_c:
                return
            i, j = steps[s]
            p0, mtj = m_tiles[i]
            n0, ntj = n_tiles[j]
            src = c_refs[s % 2]
            if y.dense_rows:
                self.dma(src, y.pixel(0, 0) + p0 * n + n0, ntj, mtj, nt, n, y.spill)
                return
            p = p0
            while p < p0 + mtj:
                oy, ox = divmod(p, ow)
                cnt = min(ow - ox, p0 + mtj - p)
                self.dma(src + (p - p0) * nt, y.pixel(oy, ox) + n0, ntj, cnt, nt, n, y.spill)
                p += cnt

        state = {"prefetched": False}

        def prefetch():
            load_b(0)
            state["prefetched"] = True

        def emit(after_first_gemm=None):
            self.fill_halo(y, rq.zp_out)
            if not state["prefetched"]:
                load_b(0)
            if chain_blob:
                self.dma(self.k.image_ref(chain_off), chain_base, len(chain_blob))
            if not direct_a:
                gather(0)
            run_steps(after_first_gemm)

        def run_steps(after_first_gemm):
            for s, (i, j) in enumerate(steps):
                n0, ntj = n_tiles[j]
                b_ref = b_refs[j % b_bufs]
                wbytes = blobs[j][1]
                a_ref, lda = a_of(s)
                c_ref, ldc = c_of(s)
                self.sb.gemm(a=a_ref, lda=lda, b=b_ref, ldb=ntj, c=c_ref, ldc=ldc, m=m_tiles[i][1], n=ntj, k=kc,
                             bias=b_ref + wbytes, mult=b_ref + wbytes + INT32_BYTES * ntj,
                             shift=b_ref + wbytes + 2 * INT32_BYTES * ntj, zp_out=rq.zp_out, act_min=rq.act_min,
                             act_max=rq.act_max)
                if s > 0:
                    scatter(s - 1)
                if i == 0 and j + 1 < len(n_tiles):
                    load_b(j + 1)
                if s + 1 < len(steps) and not direct_a:
                    gather(s + 1)
                if s == 0 and after_first_gemm is not None:
                    after_first_gemm()
            scatter(len(steps) - 1)

        return prefetch, emit

    # ------------------------------------------------------------ DMA-only layers
    def pad_layer(self, layer: ir.Pad) -> None:
        x, y = self.buf(layer.inputs[0]), self.buf(layer.output)
        (_, _), (pt, pb), (pl, pr), (c0, c1) = layer.pads
        total = y.nbytes
        block = min(total, y.row_stride)
        # fill the whole output (halo included) with the zero point, then copy the input inside
        self.dma(self.zp_block(layer.value, block), y.ref, block, total // block, 0, block, y.spill)
        if total % block:
            self.dma(self.zp_block(layer.value, block), y.ref + (total // block) * block, total % block, 1, 0, 0,
                     y.spill)
        for r in range(x.h):
            self.dma(x.pixel(r, 0), y.pixel(pt + r, pl) + c0, x.c, x.w, x.c, y.c, x.spill or y.spill)

    # ------------------------------------------------------------ VECTOR layers
    def vector_layer(self, layer) -> None:
        from compiler.lower_vector import lower_vector_layer
        lower_vector_layer(self, layer)

    # ------------------------------------------------------------ whole model
    def run(self) -> LoweredModel:
        m = self.m
        self.plan_memory()
        # the work area starts right after the activations the plan placed in SRAM
        self.work_base = SRAM_BASE + _align(self.arena_used)
        self.work_size = self.p.sram_size - _align(self.arena_used)
        self.half_size = (self.work_size // 2) // ALIGN * ALIGN
        # the image size is unknown until the stream is built; workspace Refs are placeholders resolved
        # against a provisional base, then the stream is rebuilt once with the final base
        provisional = None
        for _ in range(2):
            self.sb = StreamBuilder(self.p)
            self.k = _Constants()
            self.work_used = 0
            self._fix_workspace(provisional or 0)
            self.emit()
            image_end = P.MODEL_HEADER_SIZE + len(self.k.data) + 4 + len(self.sb.commands) * P.CMD_SIZE
            if provisional is not None and _align(image_end) <= provisional:
                break
            provisional = _align(image_end) + ALIGN * 64
        header = {"magic": P.MODEL_MAGIC, "layer_count": max(layer.index for layer in m.layers) + 1,
                  "footprint": self.footprint, "max_rows": self.max_rows, "dma_channels": self.p.dma_channels,
                  "input_offset": self.input_offset, "input_row_bytes": self.input_bytes,
                  "output_offset": self.output_offset, "output_row_bytes": self.output_bytes,
                  "input_scale": m.tensors[m.input].scale, "output_scale": m.tensors[m.output].scale,
                  "input_zp": m.tensors[m.input].zero_point, "output_zp": m.tensors[m.output].zero_point,
                  "sram_bytes": _align(self.arena_used) + self.work_used}
        image = build_image_v2(header, bytes(self.k.data), self.sb.commands)
        if len(image) > self.input_offset:
            raise AssertionError("image grew past its provisional end")
        plan = {t: ("sram" if b.in_sram else "dram") for t, b in self.buffers.items()}
        stats = dict(self.sb.stats, commands=len(self.sb.commands), constants=len(self.k.data),
                     arena_used=self.arena_used, work_used=self.work_used, workspace=self.ws_size,
                     spilled_tensors=sum(1 for b in self.buffers.values() if b.spill))
        return LoweredModel(image, self.p.name, self.footprint, self.input_offset, self.input_bytes,
                            self.output_offset, self.output_bytes, self.max_rows, header["sram_bytes"], plan, stats)

    def emit(self) -> None:
        m = self.m
        first = True
        self.half = 0
        planned: dict[int, tuple] = {}
        gemm_index = 0
        for li, layer in enumerate(m.layers):
            self.sb.layer(layer.index)
            if first:
                x = self.buf(m.input)
                zp = m.tensors[m.input].zero_point
                self.fill_halo(x, zp)
                h, w, c = _dims(m.tensors[m.input])
                self.copy_into(Ref(P.RELOC_INPUT, 0), w * c, x, x.spill)
                first = False
            if isinstance(layer, (ir.Conv2D, ir.FullyConnected)):
                prefetch, emit = planned.pop(li) if li in planned else self.gemm_layer(layer, gemm_index % 2)
                # the next GEMM layer (VECTOR/DMA layers may come between) takes the other half of the work
                # area and its first weight tile is fetched during this layer's first GEMM; the layers in
                # between use this layer's half
                nxt = next((k for k in range(li + 1, len(m.layers))
                            if isinstance(m.layers[k], (ir.Conv2D, ir.FullyConnected))), None)
                hook = None
                if nxt is not None:
                    planned[nxt] = self.gemm_layer(m.layers[nxt], (gemm_index + 1) % 2)
                    hook = planned[nxt][0]
                emit(hook)
                self.half = gemm_index % 2
                gemm_index += 1
            elif isinstance(layer, ir.Pad):
                self.pad_layer(layer)
            elif isinstance(layer, ir.Reshape):
                pass
            else:
                self.vector_layer(layer)
        y = self.buf(m.output)
        h, w, c = _dims(m.tensors[m.output])
        if y.dense_rows:
            self.dma(y.pixel(0, 0), Ref(P.RELOC_OUTPUT, 0), h * w * c, 1, 0, 0, y.spill)
        else:
            self.dma(y.pixel(0, 0), Ref(P.RELOC_OUTPUT, 0), w * c, h, y.row_stride, w * c, y.spill)


def lower(model: ir.Model, profile, max_rows: int = DEFAULT_MAX_ROWS, chains: bool = True) -> LoweredModel:
    """Compile the IR for `profile` into a version-2 image (see the module docstring); chains=False issues
    every gather segment as its own command instead of through in-memory descriptor chains."""
    return Lowerer(model, profile, max_rows, chains).run()
