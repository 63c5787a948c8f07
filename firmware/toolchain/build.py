"""Compiled mode: checked firmware -> C -> clang (zig cc) for RV32IMC -> ELF, map, size and stack report.

`build(src)` checks the program, loads it hosted (the build-time interpreter for
const tables and initial values), emits C under `build/fw/<name>/`, writes the
project's one crt0 and linker-script generator's output (`emulator.linker`: the
script is derived from the machine description; the crt0 sets sp and gp, copies
.data, clears .bss, calls `main()`, and its trap vector saves the caller-saved
registers and calls `trap_handler(mcause, mepc, mtval)`), compiles with the
settings of a target spec (`firmware/targets/*.toml`), then proves the image has
no heap (no malloc/free/sbrk/calloc/realloc symbol) and reports sizes and the
maximum stack depth.

Usage:
    from firmware.toolchain.build import build
    res = build("firmware/examples/crc32.py", out="build/fw/crc32.elf")
    res.elf, res.map, res.sizes, res.stack, res.c_file, res.compile_seconds
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from emulator.linker import CRT0_S, linker_script
from firmware.toolchain.cemit import emit_c
from firmware.toolchain.hosted import load_module
from firmware.toolchain.report import check_no_heap, size_report, stack_report
from firmware.toolchain.typecalls import source_sha256

REPO = Path(__file__).resolve().parents[2]
TARGETS_DIR = REPO / "firmware" / "targets"
DEFAULT_TARGET = TARGETS_DIR / "rv32imc-tessera.toml"
REGS_INCLUDE = REPO / "docs" / "generated"
RUNTIME_INCLUDE = Path(__file__).parent
TOOLCHAIN_VERSION = "tessera-fw 0.1"
OPT_LEVELS = ("0", "1", "2", "3", "s", "z")
TRAP_FRAME = 64   # bytes the crt0 trap vector pushes: ra, t0-t6, a0-a7 (16 words), 16-byte aligned
BUILD_INFO_SECTION = ".build_info"

class BuildError(RuntimeError):
    """The target spec is invalid, clang failed, or the image breaks a rule (heap symbols, RAM overflow)."""


@dataclass
class TargetSpec:
    name: str
    path: Path
    sha256: str
    triple: str
    cpu: str
    march: str
    mabi: str
    machine: str
    opt_level: str
    lto: bool
    extra_cflags: list
    stack_reserve: int

    def cflags(self) -> list:
        flags = ["-target", self.triple, f"-mcpu={self.cpu}", f"-O{self.opt_level}", "-ffreestanding", "-nostdlib",
                 "-fno-builtin", "-fno-sanitize=all", "-ffunction-sections", "-fdata-sections", "-fstack-size-section",
                 "-std=c11", "-Wall", "-Werror", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
                 "-Wno-unused-function", "-Wno-parentheses-equality", "-Wno-incompatible-pointer-types-discards-qualifiers", "-g"]
        return flags + (["-flto"] if self.lto else []) + list(self.extra_cflags)


def load_target(path=None) -> TargetSpec:
    """Read and validate a target spec TOML; errors name the file and the key."""
    p = Path(path) if path else DEFAULT_TARGET
    if not p.is_file() and (TARGETS_DIR / f"{p}.toml").is_file():
        p = TARGETS_DIR / f"{p}.toml"
    try:
        raw = p.read_bytes()
        doc = tomllib.loads(raw.decode())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{p}: cannot read target spec: {exc}") from None
    t, cg = doc.get("target", {}), doc.get("codegen", {})
    for key in ("name", "triple", "cpu"):
        if not isinstance(t.get(key), str):
            raise BuildError(f"{p}: [target] {key} must be a string")
    opt = str(cg.get("opt_level", "2"))
    if opt not in OPT_LEVELS:
        raise BuildError(f"{p}: [codegen] opt_level {opt!r} is not one of {', '.join(OPT_LEVELS)}")
    return TargetSpec(t["name"], p, hashlib.sha256(raw).hexdigest(), t["triple"], t["cpu"], t.get("march", ""),
                      t.get("mabi", ""), t.get("machine", ""), opt, bool(cg.get("lto", False)),
                      list(cg.get("extra_cflags", [])), int(cg.get("stack_reserve", 4096)))


def machine_desc(spec: TargetSpec):
    from emulator.machine import load_machine
    return load_machine(spec.machine or None)


def compile_c(c_file: Path, elf: Path, spec: TargetSpec) -> Path:
    """Compile and link one C file with the crt0 and linker script of `spec`; returns the map file."""
    work = elf.parent
    (work / "crt0.S").write_text(CRT0_S)
    (work / "link.ld").write_text(linker_script(machine_desc(spec), spec.stack_reserve, keep_flash=(BUILD_INFO_SECTION,)))
    map_file = elf.with_suffix(".map")
    cmd = [sys.executable, "-m", "ziglang", "cc", *spec.cflags(), "-I", str(REGS_INCLUDE), "-I", str(RUNTIME_INCLUDE),
           "-T", str(work / "link.ld"), "-Wl,--gc-sections", "-Wl,--print-map",  # zig cc has no -Map: lld prints it
           "-o", str(elf), str(work / "crt0.S"), str(c_file)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"clang failed building {c_file}:\n{res.stderr[-4000:]}")
    map_file.write_text(res.stdout)
    return map_file


@dataclass
class BuildResult:
    elf: Path
    map: Path
    c_file: Path
    sizes: dict
    stack: dict
    locations: dict
    build_info: str
    compile_seconds: float
    warnings: list = field(default_factory=list)

    def report(self) -> str:
        s, st = self.sizes, self.stack
        lines = [f"image {self.elf}", f"  text {s['text']}  rodata {s['rodata']}  data {s['data']}  bss {s['bss']}"
                 f"  (flash {s['flash']}, ram {s['ram']})",
                 f"  max stack {st['max_stack']} bytes (main path {st['main_path']}"
                 + (f", + trap {st['trap']}" if st.get('trap') else "") + ")",
                 f"  build info: {self.build_info}", f"  compile {self.compile_seconds:.2f} s"]
        return "\n".join(lines)


def build(src, out=None, target=None) -> BuildResult:
    """Build the firmware at `src` into an ELF (default build/fw/<name>/<name>.elf)."""
    from firmware.toolchain.checker import reachable
    t0 = time.perf_counter()
    src = Path(src)
    spec = load_target(target)
    mod = load_module(src)
    prog = mod.__tessera_program__
    src_hash = source_sha256(prog.modules)
    info = (f"toolchain={TOOLCHAIN_VERSION} target={spec.name} target_sha256={spec.sha256[:16]} "
            f"source={src.name} source_sha256={src_hash[:16]}")
    elf = Path(out) if out else REPO / "build" / "fw" / src.stem / f"{src.stem}.elf"
    work = elf.parent
    work.mkdir(parents=True, exist_ok=True)
    c_file = work / f"{elf.stem}.c"
    c_src, locations = emit_c(prog, mod.__tessera_modules__, info, str(c_file))
    c_file.write_text(c_src)
    map_file = compile_c(c_file, elf, spec)
    check_no_heap(elf)
    sizes = size_report(elf)
    main_fns = [f.c_name for f in reachable(prog.main)]
    trap_fns = [f.c_name for f in reachable(prog.trap_handler)] if prog.trap_handler else []
    calls = {f.c_name: [c.c_name for c, _ in f.calls] for f in prog.funcs}
    stack = stack_report(elf, calls, prog.main.c_name, prog.trap_handler.c_name if prog.trap_handler else None,
                         TRAP_FRAME, prog.panic_hook.c_name if prog.panic_hook else None)
    stack["main_functions"], stack["trap_functions"] = main_fns, trap_fns
    if stack["max_stack"] > spec.stack_reserve:
        raise BuildError(f"{src}: maximum stack depth {stack['max_stack']} bytes exceeds the target's stack_reserve "
                         f"{spec.stack_reserve} ({spec.path})")
    return BuildResult(elf, map_file, c_file, sizes, stack, locations, info, time.perf_counter() - t0,
                       warnings=list(prog.warnings))
