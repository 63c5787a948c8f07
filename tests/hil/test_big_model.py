"""HIL: an MLP whose weights exceed the device's SRAM: tiling, DMA/compute overlap and spills, bit-exact.

The first layer is sized from the SRAM the device reports (its weights alone are
~1.25x SRAM), so the test means the same on every profile and on a board.
Usage: .venv/bin/pytest tests/hil/test_big_model.py --hil-target=emu:tiny -s
"""

from __future__ import annotations

import numpy as np

from compiler.reference_exec import run_image
from tessera.hil.plugin import load_workload
from tessera.hil.workloads import BIG_ROWS, synthetic_workload

K_IN = 256
OVERSIZE = 1.25                # first-layer weights / SRAM
ALIGN = 16


def big_layers(sram_size: int) -> tuple[int, ...]:
    n = -(-int(sram_size * OVERSIZE / K_IN) // ALIGN) * ALIGN
    return (K_IN, n, 32, 10)


def test_weights_larger_than_sram_tile_overlap_spill_and_stay_bit_exact(hil_client):
    sram = hil_client.info()["device"]["sram_size"]
    layers = big_layers(sram)
    assert layers[0] * layers[1] > sram
    w = synthetic_workload(layers)
    h, cm = load_workload(hil_client, w, max_rows=BIG_ROWS)
    hil_client.run(h, inputs=w.x_test[:1], timeout=180)          # upload the image (not measured)
    before = hil_client.stats()["device"]
    job = hil_client.run(h, inputs=w.x_test, timeout=180)
    after = hil_client.stats()["device"]
    assert job["state"] == "done", job.get("error")
    got = np.array(job["outputs_int8"], np.int8)
    assert np.array_equal(got, run_image(cm.image, cm.quantize_input(w.x_test)))
    d = {k: after[k] - before[k] for k in ("spills", "spill_bytes", "overlap", "tc_busy", "dma_busy", "macs")}
    print(f"\n{w.name} on {sram // 1024} KiB SRAM: {d}")
    assert d["macs"] == BIG_ROWS * sum(k * n for k, n in zip(layers, layers[1:]))
    assert d["spills"] > 0 and d["spill_bytes"] > 0
    assert d["overlap"] > 0
