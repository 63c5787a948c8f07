"""A host in virtual time for the device firmware: deterministic request/response with no threads or sockets.

Requests are fed into the UART at the session's current virtual time and the
session runs in fixed steps until the answer shows up in its UART output, so a
script of requests produces the same cycles, counters and trace every time (the
snapshot tests compare runs bit for bit). Offers `request` and `wait_event`
like tests/firmware/device/devlink.DeviceLink, so its host operations work here.
`digest(session)` sums up a session's state for comparisons; run as a module it
restores a snapshot in a fresh process, runs on, and prints the digest as JSON.

Usage:
    host = VirtualHost(Session(firmware=elf, profile="tiny", trace=path))
    host.wait_event(MsgType.EVT_BOOT); load_model(host, MODEL_BASE, model)
    python -m tessera.vhost ELF PROFILE SNAPSHOT CYCLES      # -> digest JSON on stdout
    session = start_job(Session(firmware=elf), compiled_model, rows)   # the device mid-job (benchmarks)
"""

from __future__ import annotations

import hashlib
import json
import sys

from hostd.protocol import Frame, FrameDecoder, encode_frame

STEP_CYCLES = 20_000            # virtual time between two looks at the UART output
MAX_WAIT_CYCLES = 2_000_000_000
MODEL_OFFSET = 0x1000           # the model image in the host window, where the device tests place it


class VirtualHost:
    def __init__(self, session):
        self.session = session
        self.decoder = FrameDecoder()
        self.seen = 0
        self.frames: list = []
        self.events: list = []
        self.seq = 0

    def _pump(self) -> None:
        out = self.session.uart_output()
        new, self.seen = out[self.seen:], len(out)
        for item in self.decoder.feed(new):
            (self.events if isinstance(item, Frame) and item.is_event else self.frames).append(item)

    def step(self, cycles: int = STEP_CYCLES) -> None:
        info = self.session.run(max_cycles=cycles)
        if info.reason != "limit":
            raise RuntimeError(f"the device stopped: {info}")
        self._pump()

    def _until(self, found, what: str):
        start = self.session.cycles
        while True:
            hit = found()
            if hit is not None:
                return hit
            if self.session.cycles - start > MAX_WAIT_CYCLES:
                raise TimeoutError(f"no {what} within {MAX_WAIT_CYCLES} cycles")
            self.step()

    def send(self, msg_type, payload=None, flags: int = 0) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        self.session.feed(encode_frame(msg_type, self.seq, payload, flags))
        return self.seq

    def request(self, msg_type, payload=None, flags: int = 0, timeout: float | None = None) -> Frame:
        """The answer to one request. `timeout` (wall seconds, DeviceLink's signature) is accepted and not used:
        a virtual host bounds every wait in device cycles (MAX_WAIT_CYCLES), independent of the host's speed."""
        seq = self.send(msg_type, payload, flags)

        def found():
            for i, f in enumerate(self.frames):
                if isinstance(f, Frame) and f.seq == seq:
                    return self.frames.pop(i)
            return None
        return self._until(found, f"answer to {msg_type!r}")

    def wait_event(self, msg_type, count: int = 1, timeout: float | None = None) -> Frame:
        def found():
            hits = [e for e in self.events if e.type == msg_type]
            return hits[count - 1] if len(hits) >= count else None
        return self._until(found, f"{msg_type!r} #{count}")


def start_job(session, cm, rows: int, seed: int = 0, poll_cycles: int = 500) -> VirtualHost:
    """The device firmware with compiled model `cm` loaded and a RUN of `rows` random rows sent, stepped until the
    accelerator is busy (a job in flight); hostd's own load sequence (MEM_WRITE chunks, LOAD_MODEL, RUN)."""
    import numpy as np

    from firmware import protocol_v1 as P
    from hostd.protocol import MsgType
    host = VirtualHost(session)
    host.wait_event(MsgType.EVT_BOOT)
    base = P.HOST_WINDOW_BASE + MODEL_OFFSET
    for i in range(0, len(cm.image), P.MEM_CHUNK):
        host.request(MsgType.REQ_MEM_WRITE, {"addr": base + i, "data": cm.image[i:i + P.MEM_CHUNK]})
    r = host.request(MsgType.REQ_LOAD_MODEL, {"base": base, "image_size": len(cm.image), "image_crc": cm.crc,
                                              "hash": cm.hash})
    if r.type != MsgType.RSP_LOAD_MODEL:
        raise RuntimeError(f"the device refused the model: {r}")
    hdr = cm.header
    x = np.random.default_rng(seed).integers(-128, 128, (rows, hdr.input_row_bytes), dtype=np.int8).tobytes()
    for i in range(0, len(x), P.MEM_CHUNK):
        host.request(MsgType.REQ_MEM_WRITE, {"addr": base + hdr.input_offset + i, "data": x[i:i + P.MEM_CHUNK]})
    host.send(MsgType.REQ_RUN, {"slot": r.payload["slot"], "flags": 0, "rows": rows})
    while not session.soc.accel.busy:
        host.step(poll_cycles)
    return host


def digest(session) -> dict:
    """Cycles, CPU registers, accelerator counters, memory and trace hashes, UART output hash of a session."""
    soc = session.soc
    mem = {name: hashlib.sha256(m.buf.tobytes()).hexdigest() for name, m in sorted(soc.memories.items())}
    trace = hashlib.sha256(json.dumps(session.tracer.events if session.tracer else [], sort_keys=True).encode()).hexdigest()
    regs = session.core.cpu_state()
    return {"cycles": soc.clock.now, "pc": regs["pc"], "x": regs["x"], "csr": regs["csr"],
            "counters": soc.accel.counters() if soc.accel else {}, "memories": mem, "trace": trace,
            "trace_events": len(session.tracer.events) if session.tracer else 0,
            "uart": hashlib.sha256(session.uart_output()).hexdigest(), "accel_busy": bool(soc.accel and soc.accel.busy)}


def main(argv: list[str]) -> int:
    from emulator.session import Session
    from emulator.snapshot import restore
    elf, profile, snap, cycles = argv
    with Session(firmware=elf, profile=profile, trace="/dev/null") as s:
        restore(s, snap)
        info = s.run(max_cycles=int(cycles))
        out = digest(s)
        out["reason"] = info.reason
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
