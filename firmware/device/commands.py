"""Request dispatch (docs/protocol.md section 3): one handler per request type, every reject a documented NACK.

Portable logic: it reads the checked request from `frames` (payload getters
rx_u8/rx_u16/rx_u32), answers in `resp` through `send_resp`/`nack_resp` (so
the answer is remembered for an idempotent replay of the same seq), and calls
the model store (`models`) and the execution engine (`engine`) for the model
and job requests. Check 8 (payload layout) is done here per type.

Usage:
    handle_request()            # after frame_check() returned True
    reset_requested()           # RESET answered: the main loop resets once TX is idle
"""

from firmware.rt import u32, const, record, mem_read8, mem_write8, mem_read32, mem_write32, wrapping_sub, wrapping_add
from firmware.rt import build_id
from frames import (rx, rx_u8, rx_u16, rx_u32, rx_ident, resp_u8, resp_u16, resp_u32, resp_echo, send_resp, nack_resp,
                    is_replay, replay, ls)
from hw import Pair, prof, perf_read, mtime_read, boot_count, reset_cause, core_clock_hz, PERF_COUNT
from log import log_first, log_cursor, log_at, log_line, LOG_RESET
from uart import uart_overruns
from models import window_ok, window_fault, window_size, models_load, models_unload, ld, slot_max_rows_or_zero
from engine import engine_busy, engine_running_job, engine_run, job_cancel, es, engine_mem_written
from jobs import job_find, job_to_resp, JOB_NONE
from firmware.protocol_v1 import (PROTOCOL_VERSION, RESPONSE_BIT, MAX_PAYLOAD, MEM_CHUNK, MAX_MODELS, HOST_WINDOW_BASE,
                         LOG_CHUNK, TLM_COUNT, REQ_PING, REQ_INFO, REQ_MEM_WRITE, REQ_MEM_READ, REQ_LOAD_MODEL,
                         REQ_RUN, REQ_JOB_STATUS, REQ_CANCEL, REQ_TELEMETRY, REQ_RESET, REQ_LOG, REQ_UNLOAD_MODEL,
                         NACK_BAD_PAYLOAD, NACK_OUT_OF_WINDOW, NACK_BUSY, NACK_NO_MODEL, NACK_BAD_ROWS,
                         NACK_UNKNOWN_JOB, NACK_UNKNOWN_TYPE, MODEL_HASH_SIZE, TLM_FRAMES_RX)

FW_VERSION = const(0x000100)        # 0x00MMmmpp: 0.1.0
INFO_SIZE = const(52)
MEM_ADDR_BYTES = const(4)
MEM_READ_SIZE = const(6)
MEM_WRITE_MAX = const(MEM_ADDR_BYTES + MEM_CHUNK)   # largest MEM_WRITE payload (BAD_PAYLOAD detail)
RUN_FLAGS_MAX = const(0)            # RUN flags: no bit defined (BAD_PAYLOAD detail: the largest valid value)
LOAD_SIZE = const(12 + MODEL_HASH_SIZE)
RUN_SIZE = const(4)
JOB_ID_SIZE = const(4)
LOG_REQ_SIZE = const(6)
UNLOAD_SIZE = const(1)
LOAD_RESP_SIZE = const(12)
JOB_RECORD_SIZE = const(36)
TLM_FW_FIRST = const(TLM_FRAMES_RX)
U64_BYTES = const(8)


@record
class Pending:
    reset: bool          # RESET answered; reset when the TX line is idle


pend = Pending()
pair = Pair()


def reset_requested() -> bool:
    return pend.reset


def handle_request() -> None:
    ident: u32 = rx_ident()
    if is_replay(rx.seq, ident):
        replay()
        return
    t: u32 = rx.type
    n: u32 = rx.plen
    if t == REQ_PING:
        resp_echo(n)
        answer(n, ident)
    elif t == REQ_INFO:
        if expect(n, 0, ident):
            do_info(ident)
    elif t == REQ_MEM_WRITE:
        do_mem_write(ident)
    elif t == REQ_MEM_READ:
        if expect(n, MEM_READ_SIZE, ident):
            do_mem_read(ident)
    elif t == REQ_LOAD_MODEL:
        if expect(n, LOAD_SIZE, ident):
            do_load(ident)
    elif t == REQ_RUN:
        if expect(n, RUN_SIZE, ident):
            do_run(ident)
    elif t == REQ_JOB_STATUS or t == REQ_CANCEL:
        if expect(n, JOB_ID_SIZE, ident):
            do_job(t == REQ_CANCEL, ident)
    elif t == REQ_TELEMETRY:
        if expect(n, 0, ident):
            do_telemetry(ident)
    elif t == REQ_RESET:
        if expect(n, 0, ident):
            log_line(LOG_RESET, 0, 0, 0)
            pend.reset = True
            answer(0, ident)
    elif t == REQ_LOG:
        if expect(n, LOG_REQ_SIZE, ident):
            do_log(ident)
    elif t == REQ_UNLOAD_MODEL:
        if expect(n, UNLOAD_SIZE, ident):
            do_unload(ident)
    else:
        nack(NACK_UNKNOWN_TYPE, t, ident)


def answer(plen: u32, ident: u32) -> None:
    send_resp(rx.type | RESPONSE_BIT, rx.seq, plen, ident)


def nack(reason: u32, detail: u32, ident: u32) -> None:
    nack_resp(rx.seq, rx.type, reason, detail, ident)


def expect(n: u32, size: u32, ident: u32) -> bool:
    """Check 8 for a fixed-size payload."""
    if n != size:
        nack(NACK_BAD_PAYLOAD, size, ident)
        return False
    return True


def do_info(ident: u32) -> None:
    resp_u8(0, PROTOCOL_VERSION)
    resp_u8(1, prof.profile_id)
    resp_u8(2, prof.dma_channels)
    resp_u8(3, MAX_MODELS)
    resp_u32(4, FW_VERSION)
    resp_u32(8, build_id())           # = the image's .build_info source_sha256[:8]
    resp_u16(12, prof.array_rows)
    resp_u16(14, prof.array_cols)
    resp_u16(16, prof.vector_width)
    resp_u16(18, prof.sram_banks)
    resp_u32(20, prof.sram_size)
    resp_u32(24, prof.dram_size)
    resp_u32(28, prof.clock_hz)
    resp_u32(32, core_clock_hz())
    resp_u32(36, boot_count())
    resp_u8(40, reset_cause())
    resp_u8(41, 0)
    resp_u16(42, MAX_PAYLOAD)
    resp_u32(44, HOST_WINDOW_BASE)
    resp_u32(48, window_size())
    answer(INFO_SIZE, ident)


def do_mem_write(ident: u32) -> None:
    n: u32 = rx.plen
    if n <= MEM_ADDR_BYTES or n > MEM_WRITE_MAX:
        nack(NACK_BAD_PAYLOAD, MEM_WRITE_MAX, ident)      # variable size: the largest valid payload
        return
    count: u32 = n - MEM_ADDR_BYTES
    addr: u32 = rx_u32(0)
    if not window_ok(addr, count):
        nack(NACK_OUT_OF_WINDOW, window_fault(), ident)
        return
    i: u32 = 0
    while i < count and (addr + i) & 3 != 0:
        mem_write8(addr + i, rx_u8(MEM_ADDR_BYTES + i))
        i += 1
    while i + 4 <= count:
        mem_write32(addr + i, rx_u32(MEM_ADDR_BYTES + i))
        i += 4
    while i < count:
        mem_write8(addr + i, rx_u8(MEM_ADDR_BYTES + i))
        i += 1
    engine_mem_written(addr, count)
    resp_u32(0, addr)
    resp_u16(4, count)
    answer(MEM_READ_SIZE, ident)


def do_mem_read(ident: u32) -> None:
    addr: u32 = rx_u32(0)
    count: u32 = rx_u16(4)
    if count == 0 or count > MEM_CHUNK:
        nack(NACK_BAD_PAYLOAD, MEM_CHUNK, ident)
        return
    if not window_ok(addr, count):
        nack(NACK_OUT_OF_WINDOW, window_fault(), ident)
        return
    resp_u32(0, addr)
    i: u32 = 0
    while i < count and (addr + i) & 3 != 0:
        resp_u8(MEM_ADDR_BYTES + i, mem_read8(addr + i))
        i += 1
    while i + 4 <= count:
        resp_u32(MEM_ADDR_BYTES + i, mem_read32(addr + i))
        i += 4
    while i < count:
        resp_u8(MEM_ADDR_BYTES + i, mem_read8(addr + i))
        i += 1
    answer(MEM_ADDR_BYTES + count, ident)


def do_load(ident: u32) -> None:
    if engine_busy():
        nack(NACK_BUSY, engine_running_job(), ident)
        return
    models_load(rx_u32(0), rx_u32(4), rx_u32(8))
    if ld.reason != 0:
        nack(ld.reason, ld.detail, ident)
        return
    resp_u8(0, ld.slot)
    resp_u8(1, ld.cached)
    resp_u16(2, ld.layers)
    resp_u16(4, ld.max_rows)
    resp_u16(6, 0)
    resp_u32(8, ld.footprint)
    answer(LOAD_RESP_SIZE, ident)


def do_unload(ident: u32) -> None:
    if engine_busy():
        nack(NACK_BUSY, engine_running_job(), ident)
        return
    slot: u32 = rx_u8(0)
    if not models_unload(slot):
        nack(NACK_NO_MODEL, slot, ident)
        return
    resp_u8(0, slot)
    answer(UNLOAD_SIZE, ident)


def do_run(ident: u32) -> None:
    """Checks in the documented order: payload fields (flags), BUSY, NO_MODEL, BAD_ROWS."""
    if rx_u8(1) != 0:
        nack(NACK_BAD_PAYLOAD, RUN_FLAGS_MAX, ident)
        return
    if engine_busy():
        nack(NACK_BUSY, engine_running_job(), ident)
        return
    slot: u32 = rx_u8(0)
    rows: u32 = rx_u16(2)
    max_rows: u32 = slot_max_rows_or_zero(slot)
    if max_rows == 0:
        nack(NACK_NO_MODEL, slot, ident)
        return
    if rows == 0 or rows > max_rows:
        nack(NACK_BAD_ROWS, max_rows, ident)
        return
    resp_u32(0, engine_run(slot, rows))
    answer(JOB_ID_SIZE, ident)


def do_job(cancel: bool, ident: u32) -> None:
    job_id: u32 = rx_u32(0)
    idx: u32 = job_find(job_id)
    if idx == JOB_NONE:
        nack(NACK_UNKNOWN_JOB, job_id, ident)
        return
    if cancel:
        job_cancel(idx)
    job_to_resp(idx)
    answer(JOB_RECORD_SIZE, ident)


def do_telemetry(ident: u32) -> None:
    resp_u16(0, TLM_COUNT)
    for i in range(PERF_COUNT):
        perf_read(i, pair)
        resp_u32(2 + U64_BYTES * i, pair.lo)
        resp_u32(6 + U64_BYTES * i, pair.hi)
    for i in range(PERF_COUNT, TLM_COUNT):
        resp_u32(2 + U64_BYTES * i, fw_counter(i))
        resp_u32(6 + U64_BYTES * i, 0)
    mtime_read(pair)
    resp_u32(2 + U64_BYTES * (TLM_COUNT - 1), pair.lo)
    resp_u32(6 + U64_BYTES * (TLM_COUNT - 1), pair.hi)
    answer(2 + U64_BYTES * TLM_COUNT, ident)


def fw_counter(i: u32) -> u32:
    """Telemetry counters 15..26 (the firmware's own), TLM_* order."""
    k: u32 = i - TLM_FW_FIRST
    if k == 0:
        return ls.frames_rx
    if k == 1:
        return ls.frames_tx
    if k == 2:
        return ls.crc_errors
    if k == 3:
        return ls.framing_errors
    if k == 4:
        return ls.nacks_sent
    if k == 5:
        return ls.replays
    if k == 6:
        return ls.events_sent
    if k == 7:
        return es.jobs_done
    if k == 8:
        return es.jobs_failed
    if k == 9:
        return es.jobs_cancelled
    if k == 10:
        return uart_overruns()
    if k == 11:
        return boot_count()
    return 0


def do_log(ident: u32) -> None:
    cursor: u32 = rx_u32(0)
    want: u32 = rx_u16(4)
    first: u32 = log_first()
    now: u32 = log_cursor()
    start: u32 = cursor
    if wrapping_sub(cursor, first) > wrapping_sub(now, first):
        start = first
    n: u32 = wrapping_sub(now, start)
    if n > want:
        n = want
    if n > LOG_CHUNK:
        n = LOG_CHUNK
    resp_u32(0, first)
    for i in range(n):
        resp_u8(8 + i, log_at(wrapping_add(start, i)))
    resp_u32(4, wrapping_add(start, n))
    answer(8 + n, ident)
