"""`tessera fw`: check and build constrained-Python firmware.

Usage:
    tessera fw check firmware/examples/crc32.py
    tessera fw build firmware/examples/crc32.py [-o build/firmware.elf] [--target rv32imc-tessera] [--report]
    tessera fw build main.c util.c [-o build/fw/main/main.elf] [--machine m.toml] [--profile tiny]   # C (docs/bringup.md)
    tessera fw where build/firmware.elf 17        # panic location id -> file:line:col

Exit status 0 on success; 1 with a located `file:line:col: error: ...` message on
a rejected program, or the compiler's output on a build failure.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("fw", help="firmware toolchain: check, build")
    fw = p.add_subparsers(dest="fw_command", metavar="ACTION")
    c = fw.add_parser("check", help="run the firmware checker only")
    c.add_argument("src", help="constrained-Python firmware module")
    c.set_defaults(func=_check)
    b = fw.add_parser("build", help="compile firmware (constrained Python, or C/assembly sources) to an RV32IMC ELF")
    b.add_argument("src", nargs="+", help="one constrained-Python module, or C/assembly files (.c, .S, .s)")
    b.add_argument("-o", "--output", default=None, help="ELF path (default build/fw/<name>/<name>.elf)")
    b.add_argument("--target", default=None, help="target spec TOML or name in firmware/targets/ (Python firmware)")
    b.add_argument("--report", action="store_true", help="print sizes, stack depth and build info (Python firmware)")
    b.add_argument("--machine", default=None, help="machine description TOML for the linker script (C sources)")
    b.add_argument("--profile", default=None, help="accelerator profile: a name or a profile TOML (C sources)")
    b.add_argument("--cflag", action="append", default=[], help="extra compiler flag for C sources (repeatable)")
    b.set_defaults(func=_build)
    w = fw.add_parser("where", help="decode a panic location id (SYSCTL.SCRATCH1) with an image's location table")
    w.add_argument("elf", help="the firmware image")
    w.add_argument("loc", type=lambda v: int(v, 0), help="location id (decimal or 0x...)")
    w.set_defaults(func=_where)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _check(args) -> int:
    from firmware.toolchain.checker import check_program
    from firmware.toolchain.types import FirmwareError
    try:
        prog = check_program(args.src)
    except FirmwareError as exc:
        print(exc, file=sys.stderr)
        return 1
    for w in prog.warnings:
        print(w, file=sys.stderr)
    print(f"{args.src}: ok ({len(prog.funcs)} functions, {len(prog.globals)} module-level names)")
    return 0


def _build(args) -> int:
    from firmware.toolchain.build import BuildError, build
    from firmware.toolchain.types import FirmwareError
    if any(not s.endswith(".py") for s in args.src):
        return _build_c(args)
    if len(args.src) > 1:
        print(f"tessera fw build: one constrained-Python module at a time, got {len(args.src)}", file=sys.stderr)
        return 1
    try:
        res = build(args.src[0], out=args.output, target=args.target)
    except (FirmwareError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for w in res.warnings:
        print(w, file=sys.stderr)
    print(res.report() if args.report else str(res.elf))
    return 0


def _build_c(args) -> int:
    from pathlib import Path

    from emulator.fwbuild import FirmwareBuildError, build_c_program
    from emulator.machine import MachineError, load_machine
    name = Path(args.src[0]).stem
    out = Path(args.output or f"build/fw/{name}/{name}.elf")
    try:
        machine = load_machine(args.machine, profile=args.profile)
        print(build_c_program([Path(s) for s in args.src], out, machine, tuple(args.cflag)))
    except (FirmwareBuildError, MachineError) as exc:
        print(f"tessera fw build: {exc}", file=sys.stderr)
        return 1
    return 0


def _where(args) -> int:
    from elftools.common.exceptions import ELFError
    from firmware.toolchain.report import locations_table
    try:
        table = locations_table(args.elf)
    except (OSError, ELFError) as exc:
        print(f"{args.elf}: cannot read the image: {exc}", file=sys.stderr)
        return 1
    if args.loc not in table:
        print(f"{args.elf}: no location id {args.loc} (the image has {len(table)}; 0 means no location)", file=sys.stderr)
        return 1
    print(table[args.loc])
    return 0
