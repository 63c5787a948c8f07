"""Model slots and LOAD_MODEL validation (docs/model-format.md section 3, in that exact order).

Portable logic over DRAM reads. A model image lives in the host window of
DRAM; LOAD_MODEL checks it (window, magic, version, sizes, footprint window,
CRC32, hash, layer count, then per layer op/flags, shape and chain, operand
ranges) and binds it to one of MAX_MODELS static slots. Format version 2
(command streams) shares the checks up to the hash and continues in
`models_v2`. Every range check is written so that no u32 arithmetic can
overflow on hostile values. A cached reload whose re-check fails unloads its
slot. The image CRC kicks the watchdog every 64 KiB. The engine reads layer
entries back with `layer_read`.

Usage:
    models_load(base, image_size, image_crc)   # payload hash read from the request; result in `ld`
    if ld.reason != 0: NACK ld.reason ld.detail
    layer_read(slot, i, lay); slot_base(slot)
"""

from firmware.rt import u8, u32, array, const, record, wrapping_add
from dram import rd8, rd16, rd32
from crc32 import crc32_update, CRC_INIT, CRC_XOROUT
from frames import rx_u8
from hw import prof, wdt_kick
from log import log_line, LOG_MODEL, LOG_UNLOAD
from models_v2 import v2_validate, v2_bind, v2_unbind
from firmware.protocol_v1 import (HOST_WINDOW_BASE, HOST_WINDOW_SIZE, MAX_MODELS, MODEL_MAGIC, MODEL_FORMAT_VERSION,
                         MODEL_FORMAT_V2, CMD_SIZE,
                         MODEL_HEADER_SIZE, MODEL_HASH_SIZE, LAYER_ENTRY_SIZE, MAX_LAYERS, LAYER_OP_GEMM,
                         LAYER_FLAGS_VALID, LAYER_FLAG_RAW32, LAYER_FLAG_BIAS, NACK_OUT_OF_WINDOW, NACK_BAD_MODEL,
                         NACK_NO_SLOT, MODEL_ERR_MAGIC, MODEL_ERR_VERSION, MODEL_ERR_SIZE, MODEL_ERR_CRC,
                         MODEL_ERR_HASH, MODEL_ERR_LAYERS, MODEL_ERR_OP, MODEL_ERR_SHAPE, MODEL_ERR_RANGE)

HASH_OFFSET = const(52)              # header: hash u8[32]
HASH_WORDS = const(MODEL_HASH_SIZE // 4)
LOAD_HASH_OFFSET = const(12)         # LOAD_MODEL payload: base, image_size, image_crc, hash
INT32_BYTES = const(4)
LAYER_SHIFT = const(16)              # BAD_MODEL detail = layer << 16 | MODEL_ERR_*
CRC_CHUNK = const(0x10000)           # image CRC in 64 KiB pieces, the watchdog kicked after each (~0.5 M cycles)
NO_SLOT = const(0xFFFFFFFF)


@record
class LoadResult:
    reason: u32          # 0 or a NACK_* reason
    detail: u32
    slot: u32
    cached: u32
    layers: u32
    max_rows: u32
    footprint: u32
    v2: bool             # a command-stream image (format version 2)


@record
class Layer:
    """One layer entry (layer_read makes the offsets absolute)."""
    flags: u32
    zp_out: u32          # low byte: two's complement
    m: u32
    n: u32
    k: u32
    a: u32
    c: u32
    b: u32
    bias: u32
    mult: u32
    shift: u32
    a_stride: u32
    b_stride: u32
    c_stride: u32
    ob: u32              # output bytes per element: 1, or 4 in RAW32


ld = LoadResult()
slot_used = array(u8, MAX_MODELS)
slot_base_a = array(u32, MAX_MODELS)
slot_image = array(u32, MAX_MODELS)
slot_footprint = array(u32, MAX_MODELS)
slot_layers = array(u32, MAX_MODELS)
slot_rows = array(u32, MAX_MODELS)
slot_gen = array(u32, MAX_MODELS)
slot_hash = array(u32, MAX_MODELS * HASH_WORDS)
gen_counter = array(u32, 1)
bad_addr = array(u32, 1)


def models_init() -> None:
    for s in range(MAX_MODELS):
        slot_used[s] = 0


def window_size() -> u32:
    if prof.dram_size < HOST_WINDOW_SIZE:
        return prof.dram_size
    return HOST_WINDOW_SIZE


def window_ok(addr: u32, n: u32) -> bool:
    """True when [addr, addr + n) lies in the host window; else window_fault() is the first offending address."""
    w: u32 = window_size()
    if addr < HOST_WINDOW_BASE or addr - HOST_WINDOW_BASE >= w:
        bad_addr[0] = addr
        return False
    if n > w - (addr - HOST_WINDOW_BASE):
        bad_addr[0] = HOST_WINDOW_BASE + w
        return False
    return True


def window_fault() -> u32:
    return bad_addr[0]


def fail(reason: u32, detail: u32) -> None:
    ld.reason = reason
    ld.detail = detail


def bad_model(layer: u32, code: u32) -> None:
    fail(NACK_BAD_MODEL, (layer << LAYER_SHIFT) | code)


def range_ok(off: u32, rows: u32, stride: u32, width: u32, lo: u32, limit: u32) -> bool:
    """[off, off + (rows-1)*stride + width) inside [lo, limit), without overflow."""
    if off < lo or off > limit:
        return False
    avail: u32 = limit - off
    if width > avail:
        return False
    if rows > 1:
        if stride > 0 and rows - 1 > (avail - width) // stride:
            return False
    return True


def layer_read(slot: u32, i: u32, lay: Layer) -> None:
    """Layer i of a loaded model, its operand offsets made absolute."""
    base: u32 = slot_base_a[slot]
    read_entry(base + MODEL_HEADER_SIZE + i * LAYER_ENTRY_SIZE, lay)
    lay.a += base
    lay.c += base
    lay.b += base
    lay.bias += base
    lay.mult += base
    lay.shift += base


def read_entry(e: u32, lay: Layer) -> None:
    lay.flags = rd8(e + 1)
    lay.zp_out = rd8(e + 3)
    lay.m = rd16(e + 4)
    lay.n = rd16(e + 6)
    lay.k = rd16(e + 8)
    lay.a = rd32(e + 12)
    lay.c = rd32(e + 16)
    lay.b = rd32(e + 20)
    lay.bias = rd32(e + 24)
    lay.mult = rd32(e + 28)
    lay.shift = rd32(e + 32)
    lay.a_stride = rd32(e + 36)
    lay.b_stride = rd32(e + 40)
    lay.c_stride = rd32(e + 44)
    lay.ob = u32(INT32_BYTES) if lay.flags & LAYER_FLAG_RAW32 != 0 else 1


vl = Layer()


def validate(base: u32, image_size: u32, image_crc: u32) -> bool:
    """The documented LOAD_MODEL checks; on failure `ld` holds the NACK."""
    if not window_ok(base, MODEL_HEADER_SIZE):
        fail(NACK_OUT_OF_WINDOW, window_fault())
        return False
    if rd32(base) != MODEL_MAGIC:
        bad_model(0, MODEL_ERR_MAGIC)
        return False
    version: u32 = rd16(base + 4)
    if version != MODEL_FORMAT_VERSION and version != MODEL_FORMAT_V2:
        bad_model(0, MODEL_ERR_VERSION)
        return False
    v2: bool = version == MODEL_FORMAT_V2
    layers: u32 = rd16(base + 8)
    img: u32 = rd32(base + 12)
    footprint: u32 = rd32(base + 16)
    max_rows: u32 = rd16(base + 20)
    table_end: u32 = u32(MODEL_HEADER_SIZE) if v2 else MODEL_HEADER_SIZE + layers * LAYER_ENTRY_SIZE
    entry: u32 = u32(CMD_SIZE) if v2 else LAYER_ENTRY_SIZE
    if (rd16(base + 6) != MODEL_HEADER_SIZE or rd16(base + 10) != entry or img > footprint
            or img < table_end or img != image_size):
        bad_model(0, MODEL_ERR_SIZE)
        return False
    if not window_ok(base, footprint):
        fail(NACK_OUT_OF_WINDOW, window_fault())
        return False
    if image_crc32(base, img) != image_crc:
        bad_model(0, MODEL_ERR_CRC)
        return False
    for w in range(MODEL_HASH_SIZE):
        if rd8(base + HASH_OFFSET + w) != rx_u8(LOAD_HASH_OFFSET + w):
            bad_model(0, MODEL_ERR_HASH)
            return False
    ld.v2 = v2
    ld.layers = layers
    ld.max_rows = max_rows
    ld.footprint = footprint
    if v2:
        code: u32 = v2_validate(base, img, footprint)
        if code != 0:
            fail(NACK_BAD_MODEL, code)
            return False
        return True
    if layers == 0 or layers > MAX_LAYERS:
        bad_model(0, MODEL_ERR_LAYERS)
        return False
    act_lo: u32 = table_end if footprint == img else 0
    prev_n: u32 = 0
    prev_c: u32 = 0
    for i in range(layers):
        e: u32 = base + MODEL_HEADER_SIZE + i * LAYER_ENTRY_SIZE
        op: u32 = rd8(e)
        read_entry(e, vl)
        if op != LAYER_OP_GEMM or vl.flags & (0xFF ^ LAYER_FLAGS_VALID) != 0:
            bad_model(i, MODEL_ERR_OP)
            return False
        row_out: u32 = vl.n * vl.ob
        if (vl.m == 0 or vl.n == 0 or vl.k == 0 or vl.m != max_rows
                or (i > 0 and (vl.k != prev_n or vl.a != prev_c))
                or vl.a_stride < vl.k or vl.b_stride < vl.n or vl.c_stride < row_out):
            bad_model(i, MODEL_ERR_SHAPE)
            return False
        n4: u32 = vl.n * INT32_BYTES
        ok: bool = (range_ok(vl.a, vl.m, vl.a_stride, vl.k, act_lo, footprint)
                    and range_ok(vl.c, vl.m, vl.c_stride, row_out, act_lo, footprint)
                    and range_ok(vl.b, vl.k, vl.b_stride, vl.n, table_end, img))
        if ok and vl.flags & LAYER_FLAG_BIAS != 0:
            ok = range_ok(vl.bias, 1, 0, n4, table_end, img)
        if ok and vl.flags & LAYER_FLAG_RAW32 == 0:
            ok = range_ok(vl.mult, 1, 0, n4, table_end, img) and range_ok(vl.shift, 1, 0, n4, table_end, img)
        if not ok:
            bad_model(i, MODEL_ERR_RANGE)
            return False
        prev_n = vl.n
        prev_c = vl.c
    return True


def image_crc32(base: u32, n: u32) -> u32:
    """CRC32 of the image in CRC_CHUNK pieces with a watchdog kick after each: any image the host window
    holds (8 MiB: about 1 s of core time) is checked without a watchdog reset."""
    c: u32 = CRC_INIT
    done: u32 = 0
    while done < n:
        k: u32 = n - done if n - done < CRC_CHUNK else CRC_CHUNK
        c = crc32_update(c, base + done, k)
        done += k
        wdt_kick()
    return c ^ CRC_XOROUT


def cached_slot(base: u32) -> u32:
    """The slot bound to this base with the hash the LOAD_MODEL request names (NO_SLOT when none)."""
    for s in range(MAX_MODELS):
        if slot_used[s] != 0 and slot_base_a[s] == base:
            same: bool = True
            for w in range(MODEL_HASH_SIZE):
                if rx_u8(LOAD_HASH_OFFSET + w) != (slot_hash[s * HASH_WORDS + w // 4] >> (8 * (w % 4))) & 0xFF:
                    same = False
            if same:
                return s
    return NO_SLOT


def models_load(base: u32, image_size: u32, image_crc: u32) -> None:
    ld.reason = 0
    ld.detail = 0
    ld.cached = 0
    cached: u32 = cached_slot(base)
    if not validate(base, image_size, image_crc):
        if cached != NO_SLOT:            # the re-check of a bound model failed: DRAM changed, never run it
            slot_used[cached] = 0
            log_line(LOG_UNLOAD, cached, base, 2)
        return
    if cached != NO_SLOT:                # validated: the header hash is the request's, so the slot's
        ld.slot = cached
        ld.cached = 1
        return
    for s in range(MAX_MODELS):
        if slot_used[s] == 0:
            slot_used[s] = 1
            slot_base_a[s] = base
            slot_image[s] = image_size
            slot_footprint[s] = ld.footprint
            slot_layers[s] = ld.layers
            slot_rows[s] = ld.max_rows
            gen_counter[0] = wrapping_add(gen_counter[0], 1)
            slot_gen[s] = gen_counter[0]
            for w in range(HASH_WORDS):
                slot_hash[s * HASH_WORDS + w] = rd32(base + HASH_OFFSET + 4 * w)
            if ld.v2:
                v2_bind(s, base)
            else:
                v2_unbind(s)
            ld.slot = s
            log_line(LOG_MODEL, s, base, 2)
            return
    fail(NACK_NO_SLOT, MAX_MODELS)


def models_unload(slot: u32) -> bool:
    if slot >= MAX_MODELS or slot_used[slot] == 0:
        return False
    slot_used[slot] = 0
    return True


def slot_max_rows_or_zero(slot: u32) -> u32:
    if slot >= MAX_MODELS or slot_used[slot] == 0:
        return 0
    return slot_rows[slot]


def slot_base(slot: u32) -> u32:
    return slot_base_a[slot]


def slot_layer_count(slot: u32) -> u32:
    return slot_layers[slot]


def slot_generation(slot: u32) -> u32:
    return slot_gen[slot]


def slot_image_size(slot: u32) -> u32:
    return slot_image[slot]
