"""Engine figures for the sample models: cycles, busy times, PERF overlap and SRAM hit rate per job (compiled firmware).

Not a test: a measurement the runtime doc (docs/firmware-runtime.md, "Measured") is written from. Each job's
figures are telemetry deltas around one RUN; results are checked bit-exact against compiler.reference_exec.
Models: 128-96-64 and 256-288-32 (larger than SRAM) on tiny, the digits MLP 64-64-32-10 (compiler.model_quantize ->
compiler.model_compiler) on edge-v1, and 128-96-64 on edge-v2.

Usage:
    .venv/bin/python -m tests.firmware.device.perfprobe [--hosted] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from firmware import protocol_v1 as P
from compiler.reference_exec import run_image

from tests.firmware.device.conftest import CACHE, DEVICE_MAIN, open_device, source_hash
from tests.firmware.device.hostops import MODEL_BASE, download, load_model, run_job, telemetry, upload
from tests.firmware.device.modelgen import make_model

ROWS = 64
COLUMNS = ("cycles", "tc_busy", "dma_busy", "overlap", "dma_to_sram", "tc_sram_rd")


def elf_path() -> Path:
    from firmware.toolchain.build import build
    out = CACHE / source_hash() / "firmware.elf"
    if not out.is_file():
        res = build(DEVICE_MAIN, out=out.parent / f"work-{os.getpid()}" / "firmware.elf")
        os.replace(res.elf, out)
    return out


def digits_model():
    from compiler.model_compiler import compile_model
    from tessera.hil.workloads import digits_workload
    w = digits_workload()
    cm = compile_model(w.qmodel, max_rows=ROWS)
    h = cm.header
    x = cm.quantize_input(w.x_test[:ROWS])
    return cm.image, h.input_offset, h.output_offset, h.output_row_bytes, x


def random_model(dims, seed):
    m = make_model(np.random.default_rng(seed), list(dims), max_rows=ROWS)
    x = np.random.default_rng(seed + 100).integers(-128, 128, (ROWS, dims[0]), dtype=np.int8)
    return m.image, m.input_offset, m.output_offset, m.out_bytes, x


class _Img:
    def __init__(self, image):
        import zlib
        from compiler.model_format import model_hash
        self.image, self.crc, self.hash = image, zlib.crc32(image), model_hash(image)


def probe(mode: str, profile: str, name: str, spec, jobs: int) -> list[dict]:
    image, in_off, out_off, out_bytes, x = spec
    dev = open_device(mode, elf_path(), profile=profile)
    rows = []
    try:
        slot = load_model(dev, MODEL_BASE, _Img(image))
        upload(dev, MODEL_BASE + in_off, np.ascontiguousarray(x).tobytes())
        want = run_image(image, x)
        for j in range(jobs):
            before = telemetry(dev)
            job = run_job(dev, slot, len(x))
            d = [b - a for a, b in zip(before, telemetry(dev))]
            raw = download(dev, MODEL_BASE + out_off, len(x) * out_bytes)
            got = np.frombuffer(raw, np.int8 if want.dtype == np.int8 else np.int32).reshape(want.shape)
            fig = {c: d[getattr(P, "TLM_" + c.upper())] for c in COLUMNS}
            fig["cycles"] = job["cycles"]          # the job's own PERF.CYCLES delta (telemetry's spans the link)
            fig.update(model=name, profile=profile, job=j + 1, exact=bool(np.array_equal(got, want)),
                       state=job["state"], spills=d[P.TLM_SPILLS],
                       hit_rate=1 - fig["dma_to_sram"] / fig["tc_sram_rd"],
                       overlap_ratio=fig["overlap"] / max(1, min(fig["tc_busy"], fig["dma_busy"])))
            rows.append(fig)
    finally:
        dev.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosted", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    mode = "hosted" if args.hosted else "compiled"
    cases = [("tiny", "128-96-64", random_model((128, 96, 64), 21)),
             ("tiny", "256-288-32", random_model((256, 288, 32), 11)),
             ("edge-v1", "digits 64-64-32-10", digits_model()),
             ("edge-v2", "128-96-64", random_model((128, 96, 64), 21))]
    print(f"| profile | model | job | cycles | TC busy | DMA busy | overlap | overlap ratio | DMA->SRAM | TC SRAM rd "
          f"| hit rate | exact |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for profile, name, spec in cases:
        for r in probe(mode, profile, name, spec, args.jobs):
            print(f"| {profile} | {name} | {r['job']} | {r['cycles']:,} | {r['tc_busy']:,} | {r['dma_busy']:,} "
                  f"| {r['overlap']:,} | {r['overlap_ratio']:.2f} | {r['dma_to_sram']:,} | {r['tc_sram_rd']:,} "
                  f"| {r['hit_rate']:.3f} | {r['exact']} |")


if __name__ == "__main__":
    main()
