"""`tessera fw`: check and build constrained-Python firmware.

Usage:
    tessera fw check firmware/examples/crc32.py
    tessera fw build firmware/examples/crc32.py [-o build/firmware.elf] [--target rv32imc-tessera] [--report]

Exit status 0 on success; 1 with a located `file:line:col: error: ...` message on
a rejected program, or the compiler's output on a build failure.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("fw", help="firmware toolchain: check, build")
    fw = p.add_subparsers(dest="fw_command", metavar="ACTION")
    c = fw.add_parser("check", help="run the firmware checker only")
    c.add_argument("src")
    c.set_defaults(func=_check)
    b = fw.add_parser("build", help="compile firmware to an RV32IMC ELF")
    b.add_argument("src")
    b.add_argument("-o", "--output", default=None, help="ELF path (default build/fw/<name>/<name>.elf)")
    b.add_argument("--target", default=None, help="target spec TOML or name in firmware/targets/")
    b.add_argument("--report", action="store_true", help="print sizes, stack depth and build info")
    b.set_defaults(func=_build)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _check(args) -> int:
    from firmware.toolchain.checker import check_program
    from firmware.toolchain.types import FirmwareError
    try:
        prog = check_program(args.src)
    except FirmwareError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.src}: ok ({len(prog.funcs)} functions, {len(prog.globals)} module-level names)")
    return 0


def _build(args) -> int:
    from firmware.toolchain.build import BuildError, build
    from firmware.toolchain.types import FirmwareError
    try:
        res = build(args.src, out=args.output, target=args.target)
    except (FirmwareError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(res.report() if args.report else str(res.elf))
    return 0
