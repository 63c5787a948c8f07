"""Stream runner: execute a version-2 image's command stream directly on the accelerator model, through its bus.

What the device firmware does at RUN, without the emulator: the image sits in
DRAM at `base`; for each row the commands run in order: CMD_WRITE relocates and
writes a register through the bus, CMD_WAIT advances accelerator time until
every unit in the mask is idle (STATUS.BUSY clear, read through the bus), fails
on STATUS.ERR and clears DONE/ERR (W1C), CMD_LAYER records the current layer;
the end of the stream waits for every unit. The control core's own time is not
modeled (register writes take no accelerator cycles), so cycles are the
accelerator's. This is the fast path for tests and sweeps.

Usage:
    runner = StreamRunner(load_profile("edge-v1"))
    runner.load(lowered.image)
    outputs = runner.run(inputs)                 # int8 [rows, input_row_bytes] -> int8 [rows, output_row_bytes]
    runner.counters(), runner.metrics()
    runner.per_layer[3]                          # (cycles, MACs) charged to layer 3: from its CMD_LAYER to the next
    runner.tensor_spans[(0, 3)]                  # [(start, end, MACs)] of the GEMMs layer 3 issued in row 0
"""

from __future__ import annotations

import bisect

import numpy as np

from asic_model.accelerator import Accelerator
from asic_model.driver import attach
from asic_model.metrics import derived_metrics
from asic_model.soc_map import DMA, SOC, TENSOR, region
from compiler.image import parse_image_v2
from firmware import protocol_v1 as P

DRAM_BASE = region("DRAM").base
WORD = 4
MAX_WAIT_CYCLES = 10**10
_STATUS = TENSOR.reg("STATUS")
BUSY, DONE, ERR = (_STATUS.field(f).mask for f in ("BUSY", "DONE", "ERR"))
ERR_CODE = _STATUS.field("ERR_CODE")
UNIT_BITS = P.WAIT_MASK_VALID.bit_length()


class StreamFault(RuntimeError):
    """A unit ended with STATUS.ERR (or never finished) while the stream waited on it."""

    def __init__(self, layer: int, unit: str, code: int, command: int):
        self.layer, self.unit, self.code, self.command = layer, unit, code, command
        super().__init__(f"layer {layer}: {unit} failed with error code {code} (command {command})")


def _unit_status_regs() -> dict[int, tuple[str, int]]:
    regs = {1 << ch: (f"DMA channel {ch}", DMA.addr(f"CH{ch}_STATUS")) for ch in range(4)}
    regs[P.WAIT_TENSOR] = ("TENSOR", TENSOR.addr("STATUS"))
    try:
        regs[P.WAIT_VECTOR] = ("VECTOR", SOC.block("VECTOR").addr("STATUS"))
    except KeyError:
        pass
    return regs


class StreamRunner:
    """An accelerator for one profile plus a loaded v2 image; see the module docstring."""

    def __init__(self, profile, base: int = DRAM_BASE):
        self.profile = profile
        self.acc = Accelerator(profile)
        self.bus, _ = attach(self.acc)
        self.base = base
        self.units = _unit_status_regs()
        self.header = None
        self.per_layer: dict[int, tuple[int, int]] = {}     # layer -> (cycles, MACs) while the stream issued it
        self.tensor_spans: dict[tuple[int, int], list[tuple[int, int, int]]] = {}  # (row, layer) -> GEMM (start, end, MACs)
        self._mark = (0, 0)
        self._layer_starts: list[int] = []
        self._layer_ids: list[int] = []
        self.acc.trace = self._trace

    def _trace(self, kind: str, name: str, start: int, end: int, args: dict) -> None:
        if kind == "tensor" and "macs" in args:
            self.tensor_spans.setdefault(self._issued_in(start), []).append((start, end, args["macs"]))

    def _issued_in(self, cycle: int) -> tuple[int, int]:
        """(row, layer) whose commands the stream was issuing at `cycle` (a GEMM starts when its START is written)."""
        i = bisect.bisect_right(self._layer_starts, cycle) - 1
        return self._layer_ids[i] if i >= 0 else (0, 0)

    def load(self, image: bytes) -> None:
        parsed = parse_image_v2(image)
        self.header = h = parsed.header
        if h.format_version != P.MODEL_FORMAT_V2:
            raise ValueError(f"format_version {h.format_version}: the stream runner executes version {P.MODEL_FORMAT_V2}")
        off = self.base - DRAM_BASE
        if off + h.footprint > self.profile.dram_size:
            raise ValueError(f"model footprint {h.footprint} does not fit the profile's DRAM")
        self.acc.dram.buf[off:off + len(image)] = np.frombuffer(image, np.uint8)
        raw = np.frombuffer(image, np.uint8, count=h.cmd_count * P.CMD_SIZE, offset=h.cmd_offset)
        rec = raw.view(np.dtype([("op", "u1"), ("reloc", "u1"), ("arg", "<u2"), ("addr", "<u4"), ("value", "<u4")]))
        self.commands = [(int(c["op"]), int(c["reloc"]), int(c["arg"]), int(c["addr"]), int(c["value"])) for c in rec]

    # ------------------------------------------------------------ execution
    def _relocate(self, reloc: int, value: int, row: int) -> int:
        h = self.header
        if reloc == P.RELOC_NONE:
            return value
        if reloc == P.RELOC_IMAGE:
            return self.base + value
        if reloc == P.RELOC_INPUT:
            return self.base + h.input_offset + row * h.input_row_bytes + value
        if reloc == P.RELOC_OUTPUT:
            return self.base + h.output_offset + row * h.output_row_bytes + value
        raise ValueError(f"unknown relocation {reloc}")

    def _wait(self, mask: int, layer: int, index: int) -> None:
        bus, acc = self.bus, self.acc
        units = [(bit, self.units[bit]) for bit in self.units if bit & mask]
        while any(bus.read(addr, WORD) & BUSY for _, (_, addr) in units):
            ev = acc.next_event()
            if ev is None:
                raise StreamFault(layer, "accelerator", -1, index)
            acc.advance(ev)
        for _, (name, addr) in units:
            status = bus.read(addr, WORD)
            if status & ERR:
                raise StreamFault(layer, name, ERR_CODE.extract(status), index)
            if status & DONE:
                bus.write(addr, WORD, DONE)

    def _account(self, layer: int | None) -> None:
        """Charge the cycles and MACs since the last layer marker to `layer` (stream order)."""
        now, macs = self.acc.now, self.acc.perf.counts["MACS"]
        if layer is not None:
            cyc, mac = self.per_layer.get(layer, (0, 0))
            self.per_layer[layer] = (cyc + now - self._mark[0], mac + macs - self._mark[1])
        self._mark = (now, macs)

    def run_row(self, row: int) -> None:
        bus = self.bus
        layer = None
        self._account(None)
        for index, (op, reloc, arg, addr, value) in enumerate(self.commands):
            if op == P.CMD_WRITE:
                bus.write(addr, WORD, self._relocate(reloc, value, row))
            elif op == P.CMD_WAIT:
                self._wait(arg, layer or 0, index)
            elif op == P.CMD_LAYER:
                self._account(layer)
                layer = arg
                self._layer_starts.append(self.acc.now)
                self._layer_ids.append((row, arg))
            else:
                raise ValueError(f"command {index}: unknown op {op}")
        self._wait(sum(self.units), layer or 0, len(self.commands))
        self._account(layer)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """Run the stream once per input row; returns the output rows (int8)."""
        h = self.header
        x = np.asarray(inputs, dtype=np.int8).reshape(-1, h.input_row_bytes)
        if len(x) > h.max_rows:
            outs = [self.run(x[i:i + h.max_rows]) for i in range(0, len(x), h.max_rows)]
            return np.concatenate(outs)
        mem = self.acc.dram.buf
        i0 = self.base - DRAM_BASE + h.input_offset
        mem[i0:i0 + x.size] = x.view(np.uint8).reshape(-1)
        for row in range(len(x)):
            self.run_row(row)
        o0 = self.base - DRAM_BASE + h.output_offset
        return mem[o0:o0 + len(x) * h.output_row_bytes].copy().view(np.int8).reshape(len(x), h.output_row_bytes)

    # ------------------------------------------------------------ results
    def counters(self) -> dict[str, int]:
        return self.acc.counters()

    def metrics(self) -> dict:
        return derived_metrics(self.acc.counters(), self.profile)
