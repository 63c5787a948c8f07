"""Execution engine: runs a loaded model's GEMM layers for a batch, tiled to SRAM, DMA overlapped with compute.

Portable logic over the DMA and tensor-core drivers. RUN computes a static SRAM
plan (no heap; module-level tables, sized by the profile read from ACCEL):

    SRAM: | DMA descriptors | resident weights (all layers) | ACT0 | ACT1 | B0 B1 | A0 A1 | C0 C1 |

Weights (B and the bias/mult/shift arrays) of the whole model stay resident in
SRAM across jobs when they fit in half of SRAM (a repeated job moves no weights:
the SRAM hit rate rises); otherwise each layer streams column tiles of B through
two buffers. Intermediate activations stay in the ACT buffers when they fit;
otherwise they go out to their DRAM workspace and come back, marked CTRL.SPILL.
Each layer is a sequence of tiles t = (column tile j, row block i); per tile the
steps LOADB(j) / LOADA(t) -> GEMM(t) -> STORE(t) run as a dataflow over double
buffers, so the DMA of tile t+1 runs while the tensor core computes tile t
(PERF.OVERLAP). The job advances from the main loop (`engine_poll`), woken by
DMA/tensor interrupts; a GEMM running longer than HANG_CYCLES (timer) is aborted as hung.

A slot holding a command-stream image (format v2) runs through `stream` instead
of this plan; the job's life (records in `jobs`, events, cancel, failures) is
handled here for both.

Usage:
    job_id = engine_run(slot, rows)     # RUN (checks done by the caller)
    engine_poll()                       # main loop; True when it made progress
    job_cancel(idx); engine_fail_ecc()  # idx from jobs.job_find(job_id)
"""

from firmware.rt import u8, u32, array, const, record, wrapping_add, wrapping_sub, panic
from firmware.regs import ERR_NONE, ERR_ABORTED, ERR_SHAPE, ERR_ECC
from hw import SRAM_BASE, prof, now_lo
from dma import dma_start, dma_status, dma_clear, dma_abort, dma_write_desc, DESC_BYTES
from tensor import tc_start, tc_status, tc_clear, tc_abort, st_busy, st_done, st_err, st_code
from models import Layer, layer_read, slot_base, slot_layer_count, slot_generation, slot_image_size
from frames import small_u8, small_u16, small_u32, send_event
from log import log_line, LOG_FAULT
from jobs import jobs_init, job_id_at, job_begin, job_record_end, job_event
from models_v2 import slot_is_v2
from stream import stream_start, stream_poll, stream_layer, stream_abort, sf, STREAM_WAITING, STREAM_DONE, STREAM_FAILED
from firmware.protocol_v1 import (JOB_DONE, JOB_FAILED, JOB_CANCELLED, ERRSRC_NONE, ERRSRC_DMA,
                         ERRSRC_TENSOR, ERRSRC_FIRMWARE, ERRSRC_WATCHDOG, EVT_FAULT, FAULT_DMA,
                         FAULT_TENSOR, LAYER_FLAG_RAW32, LAYER_FLAG_BIAS)

MAX_CHANNELS = const(4)
ALIGN = const(64)                     # SRAM buffers start on bank-interleave lines
DESC_AREA = const(256)                # 2 B buffers x 3 chained descriptors (bias, mult, shift)
DESC_PER_BUF = const(3)
PARAMS = const(3)                     # bias, mult, shift (int32 [nb] each)
INT32_BYTES = const(4)
HANG_CYCLES = const(100000000)        # a GEMM busy this many core cycles (1 s at 100 MHz) is hung: abort
ROW_BLOCKS = const(4)                 # aim for this many row blocks per layer (overlap)
CANARY = const(0x7E55E7A0)           # engine integrity word; anything else means RAM was corrupted
PANIC_CANARY = const(0xE201)         # panic code: the canary changed
OP_NONE = const(0)
OP_LOADA = const(1)
OP_LOADB = const(2)
OP_STORE = const(3)
OP_PREFETCH = const(4)                # the next layer's first weight tile (all of it when resident)
EVT_FAULT_SIZE = const(16)


@record
class Engine:
    busy: bool
    v2: bool              # the job runs a command stream (stream.py), not the GEMM plan below
    job_idx: u32          # history index of the running job
    slot: u32
    base: u32
    rows: u32
    layers: u32
    layer: u32
    # model-wide plan
    w_res: bool           # all weights resident in SRAM
    w_cached: bool        # ... and already there from an earlier job
    act_keep: bool        # intermediate activations stay in SRAM
    act_size: u32
    w_base: u32
    act0: u32
    tile_base: u32
    tile_size: u32
    wcur: u32             # next resident-weight offset
    # layer plan
    nb: u32
    ncol: u32
    mb: u32
    nrow: u32
    tiles: u32
    a_sram: bool
    out_sram: bool
    wb: u32               # resident B of this layer
    bpar: u32             # B buffer of column tile j is (j + bpar) & 1 (a prefetched tile 0 took the free one)
    bsize: u32
    b0: u32
    a0: u32
    asize: u32
    c0: u32
    csize: u32
    # progress (issued / done per step kind; one of each kind in flight at most)
    loada_i: u32
    loada_d: u32
    loadb_i: u32
    loadb_d: u32
    gemm_i: u32
    gemm_d: u32
    store_i: u32
    store_d: u32
    gemm_tick: u32
    nch: u32
    # next layer's weight prefetch (issued during this layer's last tiles)
    pf_layer: u32         # layer the last prefetch decision was for (0: none yet this job)
    pf_issued: bool       # a prefetch for pf_layer was started ...
    pf_done: bool         # ... and has finished before that layer began
    pf_par: u32           # its B buffer parity
    # residency of weights across jobs
    res_valid: bool
    res_slot: u32
    res_gen: u32
    # counters
    next_id: u32
    jobs_done: u32
    jobs_failed: u32
    jobs_cancelled: u32


canary: u32 = CANARY
es = Engine()
cl = Layer()
tl = Layer()
ch_op = array(u8, MAX_CHANNELS)


def engine_init() -> None:
    global canary
    canary = CANARY
    es.busy = False
    es.res_valid = False
    es.next_id = 1
    jobs_init()


def align(n: u32) -> u32:
    return (n + ALIGN - 1) & (0xFFFFFFFF ^ (ALIGN - 1))


def cdiv(a: u32, b: u32) -> u32:
    return (a + b - 1) // b


def engine_check() -> None:
    """Integrity check (timer tick and main loop): a corrupted engine state is a panic, not a wrong result."""
    if canary != CANARY or (es.busy and es.layer >= es.layers):
        panic(PANIC_CANARY)


def engine_busy() -> bool:
    return es.busy


def engine_running_job() -> u32:
    if es.busy:
        return job_id_at(es.job_idx)
    return 0


def engine_mem_written(addr: u32, n: u32) -> None:
    """MEM_WRITE over the resident model's image makes its SRAM weights stale."""
    if es.res_valid:
        base: u32 = slot_base(es.res_slot)
        if addr < base + slot_image_size(es.res_slot) and base < addr + n:
            es.res_valid = False


# ------------------------------------------------------------ job end
def fault_event(code: u32, detail: u32, addr: u32) -> None:
    small_u8(0, code)
    small_u8(1, 0)
    small_u16(2, 0)
    small_u32(4, detail)
    small_u32(8, addr)
    small_u32(12, engine_running_job())
    send_event(EVT_FAULT, EVT_FAULT_SIZE)
    log_line(LOG_FAULT, code, detail, 2)


def finish(state: u32, err: u32, src: u32) -> None:
    """End the running job: record, counters, residency, JOB_DONE event."""
    job_record_end(es.job_idx, state, err, src, es.layer)
    if state == JOB_DONE:
        es.jobs_done += 1
        if es.w_res:
            es.res_valid = True
            es.res_slot = es.slot
            es.res_gen = slot_generation(es.slot)
    else:
        es.res_valid = False
        if state == JOB_CANCELLED:
            es.jobs_cancelled += 1
        else:
            es.jobs_failed += 1
    es.busy = False
    job_event(es.job_idx)


def abort_all() -> None:
    """Stop whatever is in flight and clear every status (level interrupts drop)."""
    if es.v2:
        stream_abort()
        return
    if es.gemm_i != es.gemm_d:
        tc_abort()
    tc_clear()
    for ch in range(es.nch):
        if ch_op[ch] != OP_NONE:
            dma_abort(ch)
        dma_clear(ch)
        ch_op[ch] = OP_NONE


def fail(src: u32, err: u32, fault: u32, detail: u32) -> None:
    fault_event(fault, detail, 0)
    abort_all()
    finish(JOB_FAILED, err, src)


def job_cancel(idx: u32) -> None:
    if es.busy and idx == es.job_idx:
        abort_all()
        finish(JOB_CANCELLED, ERR_NONE, ERRSRC_NONE)


def engine_fail_ecc() -> None:
    """An SRAM ECC error: resident weights are suspect (the failing DMA/GEMM fails the job itself)."""
    es.res_valid = False


# ------------------------------------------------------------ planning
def engine_run(slot: u32, rows: u32) -> u32:
    """Start a job (the caller checked slot, rows and that no job runs); returns its id."""
    job_id: u32 = es.next_id
    es.next_id = wrapping_add(es.next_id, 1) if es.next_id != 0xFFFFFFFF else u32(1)
    es.busy = True
    es.job_idx = job_begin(job_id, slot, rows)
    es.slot = slot
    es.base = slot_base(slot)
    es.rows = rows
    es.layers = slot_layer_count(slot)
    es.layer = 0
    es.v2 = slot_is_v2(slot)
    if es.v2:                             # a stream may write anywhere in SRAM: resident weights are gone
        es.w_res = False
        es.res_valid = False
        stream_start(slot, rows)
        return job_id
    es.nch = prof.dma_channels if prof.dma_channels < MAX_CHANNELS else MAX_CHANNELS
    if es.nch == 0:
        es.nch = 1
    for ch in range(MAX_CHANNELS):
        ch_op[ch] = OP_NONE
    es.pf_layer = 0
    es.pf_issued = False
    es.pf_done = False
    plan_model()
    if not plan_layer():
        fail(ERRSRC_FIRMWARE, ERR_SHAPE, FAULT_TENSOR, ERR_SHAPE)
    return job_id


def weight_bytes(lay: Layer, nb: u32) -> u32:
    return align(lay.k * nb) + PARAMS * align(INT32_BYTES * nb)


def plan_model() -> None:
    usable: u32 = prof.sram_size - DESC_AREA
    wtot: u32 = 0
    act: u32 = 0
    chain: bool = True
    for l in range(es.layers):
        layer_read(es.slot, l, tl)
        if wtot <= usable:
            wtot += weight_bytes(tl, tl.n)
        if l + 1 < es.layers:
            need: u32 = align(es.rows * tl.c_stride) if tl.c_stride <= usable else usable
            if need > act:
                act = need
            layer_read(es.slot, l + 1, cl)
            if cl.a_stride != tl.c_stride:
                chain = False
    es.w_base = SRAM_BASE + DESC_AREA
    es.w_res = wtot <= usable // 2
    rest: u32 = usable - wtot if es.w_res else usable
    es.w_cached = (es.w_res and es.res_valid and es.res_slot == es.slot
                   and es.res_gen == slot_generation(es.slot))
    es.act_keep = chain and es.layers > 1 and act <= rest // 4
    es.act_size = act if es.act_keep else 0
    es.act0 = es.w_base + (wtot if es.w_res else 0)
    es.tile_base = es.act0 + 2 * es.act_size
    es.tile_size = rest - 2 * es.act_size
    es.wcur = 0


def plan_nb(lay: Layer) -> u32:
    """Column-tile width of a layer's B: all of N when resident or when two copies fit; 0 when nothing fits."""
    space: u32 = es.tile_size
    if es.w_res or 2 * weight_bytes(lay, lay.n) <= space // 2:
        return lay.n
    per_col: u32 = lay.k + PARAMS * INT32_BYTES
    fit: u32 = (space // 4 - 4 * ALIGN) // per_col if space // 4 > 4 * ALIGN else 0
    if fit >= prof.array_cols:
        fit = fit - fit % prof.array_cols
    return fit


def plan_layer() -> bool:
    """Tile sizes and buffers of layer es.layer; False when it cannot fit in SRAM."""
    layer_read(es.slot, es.layer, cl)
    l: u32 = es.layer
    es.a_sram = es.act_keep and l > 0
    es.out_sram = es.act_keep and l + 1 < es.layers
    space: u32 = es.tile_size
    es.nb = plan_nb(cl)
    if es.nb == 0:
        return False
    if es.w_res:
        es.wb = es.w_base + es.wcur
        es.wcur += weight_bytes(cl, cl.n)
        es.bsize = 0
    else:
        es.bsize = weight_bytes(cl, es.nb)
    es.ncol = cdiv(cl.n, es.nb)
    rest: u32 = space - 2 * es.bsize
    per_row: u32 = (0 if es.a_sram else cl.k) + (0 if es.out_sram else es.nb * cl.ob)
    ar: u32 = prof.array_rows
    target: u32 = cdiv(cdiv(es.rows, ROW_BLOCKS), ar) * ar
    if target > es.rows:
        target = es.rows
    mb: u32 = target
    if per_row != 0:
        slack: u32 = 4 * ALIGN
        fit_rows: u32 = (rest - slack) // (2 * per_row) if rest > slack else 0
        if fit_rows == 0:
            return False
        if fit_rows < mb:
            mb = fit_rows
            if mb > ar:
                mb = mb - mb % ar
    es.mb = mb
    es.nrow = cdiv(es.rows, mb)
    es.tiles = es.ncol * es.nrow
    es.b0 = es.tile_base
    es.asize = 0 if es.a_sram else align(mb * cl.k)
    es.a0 = es.b0 + 2 * es.bsize
    es.csize = 0 if es.out_sram else align(mb * es.nb * cl.ob)
    es.c0 = es.a0 + 2 * es.asize
    es.loada_i = 0
    es.loada_d = 0
    pre: bool = es.pf_issued and es.pf_layer == l
    es.bpar = es.pf_par if pre else 0
    es.loadb_i = u32(1) if pre else 0             # tile 0's weights were prefetched during the previous layer
    es.loadb_d = u32(1) if pre and es.pf_done else 0   # (still in flight: its completion counts for this layer)
    es.pf_issued = False
    es.gemm_i = 0
    es.gemm_d = 0
    es.store_i = 0
    es.store_d = 0
    return True


# ------------------------------------------------------------ addresses
def act_buf(which: u32) -> u32:
    return es.act0 + (which & 1) * es.act_size


def bbuf(j: u32) -> u32:
    if es.w_res:
        return es.wb
    return es.b0 + ((j + es.bpar) & 1) * es.bsize


def params(j: u32, nb: u32) -> u32:
    return bbuf(j) + align(cl.k * nb)


def tile_row(t: u32) -> u32:
    return (t % es.nrow) * es.mb


def tile_rows(t: u32) -> u32:
    r0: u32 = tile_row(t)
    return es.mb if es.rows - r0 > es.mb else es.rows - r0


def tile_col(t: u32) -> u32:
    return (t // es.nrow) * es.nb


def col_width(j: u32) -> u32:
    c0: u32 = j * es.nb
    return es.nb if cl.n - c0 > es.nb else cl.n - c0


def need_loadb() -> bool:
    return not (es.w_res and es.w_cached)


def free_channel() -> u32:
    for ch in range(es.nch):
        if ch_op[ch] == OP_NONE:
            return ch
    return MAX_CHANNELS


# ------------------------------------------------------------ steps
def weight_load(ch: u32, lay: Layer, j: u32, nb: u32, dst: u32, dset: u32) -> None:
    """One DMA chain: column tile j (width nb) of lay's B to dst (rows of its width), then bias, mult, shift
    after it (each align(4 * nb) apart); the chain's descriptors are set dset (0/1) of the descriptor area."""
    cc: u32 = nb if lay.n - j * nb > nb else lay.n - j * nb
    pb: u32 = dst + align(lay.k * nb)
    p4: u32 = align(INT32_BYTES * nb)
    d: u32 = SRAM_BASE + (dset & 1) * DESC_PER_BUF * DESC_BYTES
    nxt: u32 = 0
    if lay.flags & LAYER_FLAG_RAW32 == 0:
        dma_write_desc(d + 2 * DESC_BYTES, lay.shift + INT32_BYTES * j * nb, pb + 2 * p4, INT32_BYTES * cc, 1, 0, 0,
                       False, 0)
        dma_write_desc(d + DESC_BYTES, lay.mult + INT32_BYTES * j * nb, pb + p4, INT32_BYTES * cc, 1, 0, 0, False,
                       d + 2 * DESC_BYTES)
        nxt = d + DESC_BYTES
    if lay.flags & LAYER_FLAG_BIAS != 0:
        dma_write_desc(d, lay.bias + INT32_BYTES * j * nb, pb, INT32_BYTES * cc, 1, 0, 0, False, nxt)
        nxt = d
    dma_start(ch, lay.b + j * nb, dst, cc, lay.k, lay.b_stride, cc, nxt, False)


def issue_loadb(ch: u32, j: u32) -> None:
    weight_load(ch, cl, j, es.nb, bbuf(j), j + es.bpar)
    ch_op[ch] = OP_LOADB
    es.loadb_i += 1


def prefetch_ready() -> bool:
    """Time to fetch the next layer's first weights: this layer's are all in, the B buffer the next one takes
    is no longer read (streamed: the GEMMs of column ncol-2 are done), and with one DMA channel only when
    this layer's input loads are all issued (they come first)."""
    if es.layer + 1 >= es.layers or es.pf_layer == es.layer + 1 or es.loadb_d != es.ncol:
        return False
    if es.gemm_d + es.nrow < es.tiles:
        return False
    return es.nch > 1 or es.a_sram or es.loada_i == es.tiles


def issue_prefetch(ch: u32) -> bool:
    """Start the next layer's tile-0 weight load where that layer will read it; False when it cannot go
    anywhere yet (streamed B of another size that would overlap buffers still in use)."""
    es.pf_layer = es.layer + 1
    layer_read(es.slot, es.layer + 1, tl)
    nb: u32 = plan_nb(tl)
    if nb == 0:
        return False
    par: u32 = (es.ncol + es.bpar) & 1          # the B buffer this layer's last column tile does not use
    dst: u32 = es.w_base + es.wcur
    if not es.w_res:
        size: u32 = weight_bytes(tl, nb)
        dst = es.tile_base + par * size
        last: u32 = bbuf(es.ncol - 1)
        if dst + size > es.a0 or (dst < last + es.bsize and last < dst + size):
            return False
    weight_load(ch, tl, 0, nb, dst, par)
    ch_op[ch] = OP_PREFETCH
    es.pf_issued = True
    es.pf_done = False
    es.pf_par = par
    return True


def issue_loada(ch: u32, t: u32) -> None:
    r0: u32 = tile_row(t)
    dst: u32 = es.a0 + (t & 1) * es.asize
    dma_start(ch, cl.a + r0 * cl.a_stride, dst, cl.k, tile_rows(t), cl.a_stride, cl.k, 0, es.layer > 0)
    ch_op[ch] = OP_LOADA
    es.loada_i += 1


def issue_store(ch: u32, t: u32) -> None:
    r0: u32 = tile_row(t)
    c0: u32 = tile_col(t)
    src: u32 = es.c0 + (t & 1) * es.csize
    width: u32 = col_width(t // es.nrow) * cl.ob
    dma_start(ch, src, cl.c + r0 * cl.c_stride + c0 * cl.ob, width, tile_rows(t), es.nb * cl.ob, cl.c_stride, 0,
              es.layer + 1 < es.layers)
    ch_op[ch] = OP_STORE
    es.store_i += 1


def issue_gemm(t: u32) -> None:
    j: u32 = t // es.nrow
    r0: u32 = tile_row(t)
    c0: u32 = tile_col(t)
    cc: u32 = col_width(j)
    nbuf: u32 = cl.n if es.w_res else es.nb
    a: u32 = es.a0 + (t & 1) * es.asize
    a_stride: u32 = cl.k
    if es.a_sram:
        a = act_buf(es.layer + 1) + r0 * cl.a_stride
        a_stride = cl.a_stride
    c: u32 = es.c0 + (t & 1) * es.csize
    c_stride: u32 = es.nb * cl.ob
    if es.out_sram:
        c = act_buf(es.layer) + r0 * cl.c_stride + c0 * cl.ob
        c_stride = cl.c_stride
    pb: u32 = params(j, nbuf)
    p4: u32 = align(INT32_BYTES * nbuf)
    tc_start(tile_rows(t), cc, cl.k, a, bbuf(j), c, pb, pb + p4, pb + 2 * p4, a_stride,
             cl.n if es.w_res else cc, c_stride, cl.zp_out, cl.flags)
    es.gemm_tick = now_lo()
    es.gemm_i += 1


# ------------------------------------------------------------ main-loop step
def completions() -> bool:
    """Retire finished DMA transfers and GEMMs; False when the job failed."""
    for ch in range(es.nch):
        op: u32 = ch_op[ch]
        st: u32 = dma_status(ch)
        if op != OP_NONE and st_err(st):
            fail(ERRSRC_DMA, st_code(st), FAULT_DMA, (ch << 8) | st_code(st))
            return False
        if st_done(st) or st_err(st):
            dma_clear(ch)
        if op != OP_NONE and st_done(st):
            ch_op[ch] = OP_NONE
            if op == OP_LOADA:
                es.loada_d += 1
            elif op == OP_LOADB:
                es.loadb_d += 1
            elif op == OP_PREFETCH:
                if es.pf_layer == es.layer:       # that layer has begun: it counts as its first LOADB
                    es.loadb_d += 1
                else:
                    es.pf_done = True
            else:
                es.store_d += 1
    st2: u32 = tc_status()
    if es.gemm_i != es.gemm_d:
        if st_err(st2):
            tc_clear()
            fail(ERRSRC_TENSOR, st_code(st2), FAULT_TENSOR, st_code(st2))
            return False
        if st_done(st2):
            tc_clear()
            es.gemm_d += 1
        elif wrapping_sub(now_lo(), es.gemm_tick) > HANG_CYCLES:
            fail(ERRSRC_WATCHDOG, ERR_ABORTED, FAULT_TENSOR, ERR_ABORTED)
            return False
    elif st_done(st2) or st_err(st2):
        tc_clear()
    return True


def issue() -> bool:
    """Start every step whose inputs and buffers are ready; True when something started."""
    any_: bool = False
    need_a: bool = not es.a_sram
    need_c: bool = not es.out_sram
    need_b: bool = need_loadb()
    t: u32 = es.gemm_i
    if es.gemm_i == es.gemm_d and t < es.tiles and (not need_a or es.loada_d > t) \
            and (not need_b or es.loadb_d > t // es.nrow) and (not need_c or es.store_d + 2 > t):
        issue_gemm(t)       # first: the transfers started next overlap it
        any_ = True
    ch: u32 = free_channel()
    if ch < MAX_CHANNELS and need_a and es.loada_i == es.loada_d and es.loada_i < es.tiles \
            and es.loada_i < es.gemm_d + 2:
        issue_loada(ch, es.loada_i)
        any_ = True
        ch = free_channel()
    if ch < MAX_CHANNELS and need_b and es.loadb_i == es.loadb_d and es.loadb_i < es.ncol \
            and es.loadb_i * es.nrow <= es.gemm_d + es.nrow:
        issue_loadb(ch, es.loadb_i)
        any_ = True
        ch = free_channel()
    if ch < MAX_CHANNELS and need_c and es.store_i == es.store_d and es.store_i < es.gemm_d:
        issue_store(ch, es.store_i)
        any_ = True
        ch = free_channel()
    if ch < MAX_CHANNELS and need_b and prefetch_ready() and issue_prefetch(ch):
        any_ = True
    return any_


def engine_poll() -> bool:
    """Advance the running job; True when it made progress."""
    engine_check()
    if not es.busy:
        return False
    if es.v2:
        return v2_poll()
    if not completions():
        return True
    progress: bool = issue()
    layer_done: bool = es.gemm_d == es.tiles and (es.out_sram or es.store_d == es.tiles)
    if layer_done:
        es.layer += 1
        if es.layer == es.layers:
            es.layer = 0
            finish(JOB_DONE, ERR_NONE, ERRSRC_NONE)
            return True
        if not plan_layer():
            fail(ERRSRC_FIRMWARE, ERR_SHAPE, FAULT_TENSOR, ERR_SHAPE)
        return True
    return progress


def v2_poll() -> bool:
    """Advance a command-stream job (stream.py); the job record is kept here as for v1."""
    st: u32 = stream_poll()
    es.layer = stream_layer()
    if st == STREAM_DONE:
        es.layer = 0
        finish(JOB_DONE, ERR_NONE, ERRSRC_NONE)
    elif st == STREAM_FAILED:
        fail(sf.src, sf.err, sf.fault, sf.detail)
    return st != STREAM_WAITING
