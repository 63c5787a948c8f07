"""`tessera bench toolchain`: firmware-language code against hand-written C on the emulated core.

For CRC-32 and COBS, the same workload is written in the firmware language
(`bench_ref/*_fw.py`) and by hand in C (`bench_ref/*_ref.c`); both are compiled
by the same clang with the same target spec, crt0 and linker script, run on the
emulator (compiled mode), and compared in virtual core cycles and image size
(flash bytes: every loaded section; the firmware's .build_info record, which the
hand-written C does not carry, is reported apart). Both link the same crt0 (entry
code and trap vector) with the same flags; a second size record leaves it out of
both, so the language's own overhead is visible. Both must print the same UART bytes.
Compile time of the firmware build (checker + hosted load + C + clang) is
recorded without an anchor.

Usage:
    from firmware.toolchain.bench import run
    records = run(quick=True)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from firmware.toolchain.build import build, compile_c, load_target
from firmware.toolchain.report import crt0_bytes, size_report
from tessera.bench import Record

BENCH_DIR = Path(__file__).parent / "bench_ref"
CASES = ("crc32", "cobs")
CYCLE_GOAL, SIZE_GOAL = 1.2, 1.3
MAX_CYCLES = 500_000_000


def _run(elf: Path) -> tuple[int, bytes]:
    from emulator.session import Session
    with Session(firmware=elf, hosted=False) as s:
        info = s.run(max_cycles=MAX_CYCLES)
        if (info.reason, info.code) != ("poweroff", 0):
            raise RuntimeError(f"{elf}: benchmark run ended with {info}")
        return info.cycles, bytes(s.uart_output())


def run(quick: bool = False) -> list:
    spec = load_target()
    records = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for name in CASES:
            times = []
            for rep in range(1 if quick else 3):
                (work / f"{name}{rep}").mkdir()
                t0 = time.perf_counter()
                res = build(BENCH_DIR / f"{name}_fw.py", out=work / f"{name}{rep}" / f"{name}.elf")
                times.append(time.perf_counter() - t0)
            (work / "ref").mkdir(exist_ok=True)
            ref_elf = work / "ref" / f"{name}_ref.elf"
            ref_map = compile_c(BENCH_DIR / f"{name}_ref.c", ref_elf, spec)
            fw_cycles, fw_out = _run(res.elf)
            ref_cycles, ref_out = _run(ref_elf)
            if fw_out != ref_out:
                raise RuntimeError(f"{name}: firmware printed {fw_out.hex()} but the C reference {ref_out.hex()}")
            fw_size, ref_size = res.sizes["code_and_data"], size_report(ref_elf)["code_and_data"]
            flags = f"-O{spec.opt_level}, target {spec.name}"
            records += [
                Record(case=f"{name} cycles (firmware language vs hand C)", metric="cycles", better="lower",
                       value=fw_cycles, anchor=f"hand-written C, same clang ({flags})", anchor_value=ref_cycles,
                       goal=CYCLE_GOAL, note="bounds/overflow checks included; emulator virtual cycles"),
                Record(case=f"{name} image size (firmware language vs hand C)", metric="bytes", better="lower",
                       value=fw_size, anchor=f"hand-written C, same clang ({flags})", anchor_value=ref_size,
                       goal=SIZE_GOAL, note=f"every loaded flash section incl. crt0 and the panic path; the .build_info record ({res.sizes['build_info']} B) is excluded"),
                Record(case=f"{name} image size without the shared crt0 (firmware language vs hand C)", metric="bytes",
                       better="lower", value=fw_size - crt0_bytes(res.map), anchor=f"hand-written C, same clang ({flags})",
                       anchor_value=ref_size - crt0_bytes(ref_map),
                       note="the same image sizes less the identical crt0 (entry + trap vector) both link; no goal, for transparency"),
                Record(case=f"{name} firmware compile time", metric="seconds", better="lower",
                       value=statistics.median(times), note="check + hosted load + C emit + clang + reports"),
            ]
    return records
