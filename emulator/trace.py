"""Chrome/Perfetto trace of a session in VIRTUAL time: DMA, tensor core, interrupts, UART, resets.

Each activity with a duration is a complete event (ph "X"), a point in time an
instant event (ph "i"); `ts`/`dur` are microseconds of virtual time, one track
(tid) per kind, but one per DMA channel and per UART direction (`track_of`), so
no two slices of a track overlap. Open the JSON in ui.perfetto.dev or
chrome://tracing (tests/bringup/test_trace.py checks it with Perfetto's trace
processor when its binary is available).

Usage:
    tr = TraceRecorder(core_clock_hz)
    tr.record("dma", "ch0 DRAM->SRAM", start_cycle, end_cycle, {"bytes": 4096})
    tr.write("build/run.trace.json")
"""

from __future__ import annotations

import json
from pathlib import Path

PID = 1
US_PER_S = 1_000_000


def track_of(kind: str, name: str) -> str:
    """The track (thread) of an event: one per kind, but one per DMA channel and per UART direction, whose slices
    overlap in time (Perfetto needs the slices of a track to nest, never to overlap)."""
    if kind == "dma":
        return f"dma {name}"
    if kind == "uart" and len(name.split()) > 1:
        return f"uart {name.split()[1]}"
    return kind


class TraceRecorder:
    def __init__(self, core_clock_hz: int):
        self.hz = core_clock_hz
        self.events: list[dict] = []
        self.tids: dict[str, int] = {}

    def _tid(self, kind: str) -> int:
        if kind not in self.tids:
            self.tids[kind] = len(self.tids) + 1
        return self.tids[kind]

    def record(self, kind: str, name: str, start: int, end: int, args: dict | None = None) -> None:
        ev = {"name": name, "cat": kind, "pid": PID, "tid": self._tid(track_of(kind, name)),
              "ts": start * US_PER_S / self.hz, "args": dict(args or {})}
        if end > start:
            ev["ph"] = "X"
            ev["dur"] = (end - start) * US_PER_S / self.hz
        else:
            ev["ph"] = "i"
            ev["s"] = "t"
        self.events.append(ev)

    def document(self) -> dict:
        meta = [{"name": "process_name", "ph": "M", "pid": PID, "args": {"name": "tessera (virtual time)"}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": kind}}
                 for kind, tid in self.tids.items()]
        return {"traceEvents": meta + self.events, "displayTimeUnit": "ns"}

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document()))
        return path
