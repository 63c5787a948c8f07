"""Cut one inference out of an emulator session trace (Chrome/Perfetto JSON, virtual time).

The emulator's `--trace` records every UART byte with its virtual time. This
module reassembles the protocol frames from those byte events (COBS frames
split at 0x00, parsed with hostd/protocol.py), finds the last RUN request, and
keeps the window from the MEM_WRITE that carried its input to the end of the
MEM_READ answer that returned its output: one whole inference as the host sees
it, with the DMA, tensor-core and interrupt activity inside it. Timestamps are
rebased to the start of the window; an "inference" span on its own track marks it.

Usage:
    doc = cut_last_inference(json.load(open("session.trace.json")))
    Path("build/inference.trace.json").write_text(json.dumps(doc))
"""

from __future__ import annotations

from hostd.protocol import FrameDecoder, FrameError, MsgType

DELIMITER = 0


class TraceCutError(ValueError):
    pass


def frames(events: list[dict], direction: str) -> list[tuple[object, float, float]]:
    """(Frame, start us, end us) of every frame in one UART direction ("rx" host->device, "tx" device->host)."""
    prefix = f"uart {direction} "
    out, dec, start = [], FrameDecoder(), None
    for ev in sorted((e for e in events if e.get("cat") == "uart" and e["name"].startswith(prefix)),
                     key=lambda e: e["ts"]):
        b = ev["args"]["byte"]
        if start is None and b != DELIMITER:
            start = ev["ts"]
        for fr in dec.feed(bytes([b])):
            if not isinstance(fr, FrameError) and start is not None:
                out.append((fr, start, ev["ts"] + ev.get("dur", 0)))
        if b == DELIMITER:
            start = None
    return out


def cut_last_inference(doc: dict) -> dict:
    events = [e for e in doc["traceEvents"] if e.get("ph") != "M"]
    meta = [e for e in doc["traceEvents"] if e.get("ph") == "M"]
    rx, tx = frames(events, "rx"), frames(events, "tx")
    runs = [i for i, (f, _, _) in enumerate(rx) if f.type == MsgType.REQ_RUN]
    if not runs:
        raise TraceCutError("the trace holds no RUN request (no inference ran while it was recorded)")
    i = runs[-1]
    writes = [s for f, s, _ in rx[:i] if f.type == MsgType.REQ_MEM_WRITE]
    t0 = writes[-1] if writes else rx[i][1]
    reads = [e for f, s, e in tx if f.type == (MsgType.REQ_MEM_READ | 0x80) and s > rx[i][1]]
    if not reads:
        raise TraceCutError("the trace ends before the output of the last RUN was read back")
    t1 = reads[0]
    kept = []
    for e in events:
        end = e["ts"] + e.get("dur", 0)
        if end >= t0 and e["ts"] <= t1:
            e = dict(e, ts=e["ts"] - t0)
            kept.append(e)
    marker_tid = max([e.get("tid", 0) for e in events] + [0]) + 1
    pid = events[0]["pid"] if events else 1
    kept.append({"name": "inference (MEM_WRITE input .. MEM_READ output)", "cat": "host", "ph": "X", "pid": pid,
                 "tid": marker_tid, "ts": 0.0, "dur": t1 - t0, "args": {"window_start_us": t0}})
    meta = meta + [{"name": "thread_name", "ph": "M", "pid": pid, "tid": marker_tid, "args": {"name": "inference"}}]
    return {"traceEvents": meta + kept, "displayTimeUnit": doc.get("displayTimeUnit", "ns"),
            "otherData": {"window_us": [t0, t1], "inference_us": t1 - t0}}
