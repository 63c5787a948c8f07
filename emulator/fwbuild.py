"""Build small C/assembly firmware for a machine with the project's clang (zig cc), cached by content.

Each program is compiled with the emulator's crt0 (`emulator.linker.CRT0_S`) and
a linker script generated from the machine description, against the generated
register header in docs/generated/. Results are cached under the output
directory by a hash of every input, so repeated test sessions do not rebuild.

Usage:
    elf = build_firmware([Path("tests/emulator/fw/hello.c"), Path("tests/emulator/fw/common.c")],
                         Path("build/test-fw"), name="hello")
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
CFLAGS = ["-nostdlib", "-ffreestanding", "-Os", "-g", "-Wall", "-Werror"]


class FirmwareBuildError(RuntimeError):
    """The compiler rejected a test program; the message carries its output."""


def build_firmware(sources: list[Path], out_dir: Path, name: str, machine: MachineDesc | None = None,
                   defines: dict[str, int] | None = None) -> Path:
    machine = machine or load_machine()
    script = linker_script(machine)
    defs = [f"-D{k}={v}" for k, v in sorted((defines or {}).items())]
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
    (work / "crt0.S").write_text(CRT0_S)
    tmp = work / "fw.elf"
    cmd = [sys.executable, "-m", "ziglang", "cc", *TARGET, *CFLAGS, *defs, "-I", str(INCLUDE),
           "-T", str(work / "link.ld"), "-o", str(tmp), str(work / "crt0.S"), *map(str, sources)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise FirmwareBuildError(f"building {name} failed:\n{' '.join(cmd)}\n{res.stderr}")
        os.replace(tmp, elf)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return elf
