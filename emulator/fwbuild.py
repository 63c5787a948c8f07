"""Build C/assembly firmware for a machine with the project's clang (zig cc), cached by content.

Each program is compiled with the emulator's crt0 (`emulator.linker.CRT0_S`) and
a linker script generated from the machine description, against the generated
register header in docs/generated/. It is linked with zig's compiler-rt (64-bit
division, soft float: `__udivdi3`, `__divdf3`, ...; zig builds it once per
target into its cache, ~1 minute the first time) and no C library. Results are
cached under the output directory by a hash of every input, so repeated test
sessions do not rebuild. `tessera fw build main.c more.c -o fw.elf` uses
`build_c_program` (see docs/bringup.md).

Usage:
    elf = build_firmware([Path("tests/emulator/fw/hello.c"), Path("tests/emulator/fw/common.c")],
                         Path("build/test-fw"), name="hello")
    build_c_program([Path("main.c")], Path("build/fw.elf"), machine=load_machine(profile="tiny"))
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from emulator.linker import CRT0_S, linker_script
from emulator.machine import MachineDesc, load_machine

REPO = Path(__file__).resolve().parents[1]
INCLUDE = REPO / "docs" / "generated"
TARGET = ["-target", "riscv32-freestanding-none", "-mcpu=generic_rv32+m+c"]
# No -nostdlib: it would drop compiler-rt too; freestanding-none has no C library or start files to link anyway.
CFLAGS = ["-ffreestanding", "-Os", "-g", "-Wall", "-Werror"]
C_SUFFIXES = (".c", ".S", ".s")
CRT0_NAME = "tessera-crt0.S"


class FirmwareBuildError(RuntimeError):
    """The compiler rejected a test program; the message carries its output."""


def build_c_program(sources: list[Path], output: Path, machine: MachineDesc | None = None,
                    cflags: tuple[str, ...] = ()) -> Path:
    """`tessera fw build` for C: compile and link `sources` to `output` (warnings allowed); returns `output`."""
    bad = [str(s) for s in sources if Path(s).suffix not in C_SUFFIXES]
    if bad:
        raise FirmwareBuildError(f"{bad[0]}: not a C or assembly source (expected {', '.join(C_SUFFIXES)})")
    missing = [str(s) for s in sources if not Path(s).is_file()]
    if missing:
        raise FirmwareBuildError(f"{missing[0]}: no such file")
    output = Path(output)
    elf = build_firmware([Path(s).resolve() for s in sources], output.parent / ".cache", output.stem, machine,
                         extra_flags=[f for f in cflags if f != "-Werror"] or ["-Wno-error"])
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(elf, output)
    return output


def build_firmware(sources: list[Path], out_dir: Path, name: str, machine: MachineDesc | None = None,
                   defines: dict[str, int] | None = None, extra_flags: list[str] | None = None) -> Path:
    machine = machine or load_machine()
    script = linker_script(machine)
    defs = [f"-D{k}={v}" for k, v in sorted((defines or {}).items())] + list(extra_flags or [])
    h = hashlib.sha256()
    for part in [script, CRT0_S, " ".join(TARGET + CFLAGS + defs), (INCLUDE / "tessera_regs.h").read_text()]:
        h.update(part.encode())
    for src in sources:
        h.update(src.read_bytes())
        for hdr in sorted(src.parent.glob("*.h")):
            h.update(hdr.read_bytes())
    out_dir.mkdir(parents=True, exist_ok=True)
    elf = out_dir / f"{name}-{h.hexdigest()[:12]}.elf"
    if elf.exists():
        return elf
    work = out_dir / f".{name}-{os.getpid()}"
    work.mkdir(exist_ok=True)
    (work / "link.ld").write_text(script)
    crt0 = out_dir / CRT0_NAME   # a stable path: debug info, profiles and GDB name it
    if not crt0.is_file() or crt0.read_text() != CRT0_S:
        (work / CRT0_NAME).write_text(CRT0_S)
        os.replace(work / CRT0_NAME, crt0)
    tmp = work / "fw.elf"
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET, *CFLAGS, *defs, "-I", str(INCLUDE),
           "-T", str(work / "link.ld"), "-o", str(tmp), str(crt0), *map(str, sources)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise FirmwareBuildError(f"building {name} failed:\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, elf)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return elf
