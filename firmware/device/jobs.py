"""Job records: the last JOB_HISTORY jobs' id, slot, state, error, failed layer, rows and PERF deltas.

Portable logic over the PERF counters and the frame builders. RUN opens a
record (`job_begin`: the PERF snapshots of CYCLES, ENERGY_NJ and MACS), the
engine closes it (`job_record_end`: the 64-bit deltas, a log line) and reports
it (`job_event`: EVT_JOB_DONE); JOB_STATUS and CANCEL answer from it
(`job_find`, `job_to_resp`; a running job reports zero counters). Record i
holds the job whose id is i mod JOB_HISTORY.

Usage:
    jobs_init(); idx = job_begin(job_id, slot, rows)
    job_record_end(idx, JOB_DONE, ERR_NONE, ERRSRC_NONE, layer); job_event(idx)
    idx = job_find(job_id); if idx != JOB_NONE: job_to_resp(idx)
"""

from firmware.rt import u8, u16, u32, array, const, wrapping_sub
from firmware.regs import ERR_NONE
from hw import Pair, perf_read, PERF_CYCLES, PERF_MACS, PERF_ENERGY_NJ
from frames import small_u8, small_u16, small_u32, send_event, resp_u8, resp_u16, resp_u32
from log import log_line, LOG_JOB
from firmware.protocol_v1 import JOB_HISTORY, JOB_RUNNING, ERRSRC_NONE, EVT_JOB_DONE

JOB_NONE = const(0xFFFFFFFF)
EVT_JOB_SIZE = const(36)
LAYER_MASK = const(0xFFFF)

p0 = Pair()
p1 = Pair()
h_id = array(u32, JOB_HISTORY)
h_slot = array(u8, JOB_HISTORY)
h_state = array(u8, JOB_HISTORY)
h_err = array(u8, JOB_HISTORY)
h_src = array(u8, JOB_HISTORY)
h_layer = array(u16, JOB_HISTORY)
h_rows = array(u16, JOB_HISTORY)
h_cyc = array(u32, 2 * JOB_HISTORY)       # lo, hi; at RUN: the start snapshot
h_nj = array(u32, 2 * JOB_HISTORY)
h_macs = array(u32, 2 * JOB_HISTORY)


def jobs_init() -> None:
    for i in range(JOB_HISTORY):
        h_id[i] = 0


def job_id_at(idx: u32) -> u32:
    return h_id[idx]


def job_find(job_id: u32) -> u32:
    idx: u32 = job_id % JOB_HISTORY
    if job_id == 0 or h_id[idx] != job_id:
        return JOB_NONE
    return idx


def snapshot(idx: u32, counter: u32, arr: array(u32, 2 * JOB_HISTORY)) -> None:
    perf_read(counter, p0)
    arr[2 * idx] = p0.lo
    arr[2 * idx + 1] = p0.hi


def delta(idx: u32, counter: u32, arr: array(u32, 2 * JOB_HISTORY)) -> None:
    """arr[idx] = counter now - the snapshot taken at RUN (64-bit)."""
    perf_read(counter, p1)
    lo: u32 = wrapping_sub(p1.lo, arr[2 * idx])
    borrow: u32 = u32(1) if p1.lo < arr[2 * idx] else 0
    arr[2 * idx + 1] = wrapping_sub(wrapping_sub(p1.hi, arr[2 * idx + 1]), borrow)
    arr[2 * idx] = lo


def job_begin(job_id: u32, slot: u32, rows: u32) -> u32:
    """Open the record of a job starting now; its index."""
    idx: u32 = job_id % JOB_HISTORY
    h_id[idx] = job_id
    h_slot[idx] = u8(slot)
    h_state[idx] = JOB_RUNNING
    h_err[idx] = ERR_NONE
    h_src[idx] = ERRSRC_NONE
    h_layer[idx] = 0
    h_rows[idx] = u16(rows)
    snapshot(idx, PERF_CYCLES, h_cyc)
    snapshot(idx, PERF_ENERGY_NJ, h_nj)
    snapshot(idx, PERF_MACS, h_macs)
    return idx


def job_record_end(idx: u32, state: u32, err: u32, src: u32, layer: u32) -> None:
    """Close a record: final state, error, layer and the PERF deltas since job_begin."""
    h_state[idx] = u8(state)
    h_err[idx] = u8(err)
    h_src[idx] = u8(src)
    h_layer[idx] = u16(layer & LAYER_MASK)
    delta(idx, PERF_CYCLES, h_cyc)
    delta(idx, PERF_ENERGY_NJ, h_nj)
    delta(idx, PERF_MACS, h_macs)
    log_line(LOG_JOB, h_id[idx], state, 2)


def job_to_resp(idx: u32) -> None:
    resp_u32(0, h_id[idx])
    resp_u8(4, h_slot[idx])
    resp_u8(5, h_state[idx])
    resp_u8(6, h_err[idx])
    resp_u8(7, h_src[idx])
    resp_u16(8, h_layer[idx])
    resp_u16(10, h_rows[idx])
    running: bool = h_state[idx] == JOB_RUNNING
    for w in range(2):
        resp_u32(12 + 4 * w, 0 if running else h_cyc[2 * idx + w])
        resp_u32(20 + 4 * w, 0 if running else h_nj[2 * idx + w])
        resp_u32(28 + 4 * w, 0 if running else h_macs[2 * idx + w])


def job_event(idx: u32) -> None:
    small_u32(0, h_id[idx])
    small_u8(4, h_slot[idx])
    small_u8(5, h_state[idx])
    small_u8(6, h_err[idx])
    small_u8(7, h_src[idx])
    small_u16(8, h_layer[idx])
    small_u16(10, h_rows[idx])
    for w in range(2):
        small_u32(12 + 4 * w, h_cyc[2 * idx + w])
        small_u32(20 + 4 * w, h_nj[2 * idx + w])
        small_u32(28 + 4 * w, h_macs[2 * idx + w])
    send_event(EVT_JOB_DONE, EVT_JOB_SIZE)
