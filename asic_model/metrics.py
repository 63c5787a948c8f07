"""Metrics derived from the PERF counters, exactly as docs/performance-counters.md defines them.

- overlap_ratio = OVERLAP / min(COMPUTE_BUSY, DMA_BUSY): how much of the shorter
  of the two activities (compute = tensor core or vector unit) is hidden under
  the other (1.0 = a perfect schedule for this mix, whether the job is compute-
  or transfer-bound); None if either is 0. Without vector work COMPUTE_BUSY = TC_BUSY.
- exposed_dma_cycles = DMA_BUSY - OVERLAP: transfer time not hidden by compute.
- sram_hit_rate = 1 - DMA_TO_SRAM / (TC_SRAM_RD + VU_SRAM_RD), floored at 0: the
  fraction of the compute units' SRAM reads served by bytes already resident
  (reuse), as opposed to first uses of bytes the DMA brought in; None if no reads.
- operand_reuse = (TC_SRAM_RD + VU_SRAM_RD) / DMA_TO_SRAM: compute reads per byte brought in.
- array_utilization = MACS / (TC_BUSY * rows * cols).
- gops = 2 * MACS / (CYCLES / clock) / 1e9; tops_per_watt = 2 * MACS / energy in J / 1e12.

Usage:
    derived_metrics(acc.counters(), acc.profile)["sram_hit_rate"]
"""

from __future__ import annotations

NJ_PER_J = 10**9

OPS_PER_MAC = 2


def derived_metrics(c: dict[str, int], profile) -> dict[str, float | int | None]:
    tc, dma, ov = c["TC_BUSY"], c["DMA_BUSY"], c["OVERLAP"]
    # Counter sets without the vector-unit counters (telemetry of a device that predates them) mean
    # no vector work: COMPUTE_BUSY = TC_BUSY and VU_SRAM_RD = 0.
    compute = c.get("COMPUTE_BUSY", tc)
    rd, into = c["TC_SRAM_RD"] + c.get("VU_SRAM_RD", 0), c["DMA_TO_SRAM"]
    seconds = c["CYCLES"] / profile.clock_hz
    joules = c["ENERGY_NJ"] / NJ_PER_J
    return {
        "overlap_ratio": ov / min(compute, dma) if compute and dma else None,
        "exposed_dma_cycles": dma - ov,
        "sram_hit_rate": max(0.0, 1 - into / rd) if rd else None,
        "operand_reuse": rd / into if into else None,
        "array_utilization": c["MACS"] / (tc * profile.macs_per_cycle) if tc else None,
        "gops": OPS_PER_MAC * c["MACS"] / seconds / 1e9 if seconds else 0.0,
        "tops_per_watt": OPS_PER_MAC * c["MACS"] / joules / 1e12 if joules else 0.0,
    }
