"""`tessera emu run`: boot firmware on the emulated control core and bridge its UART to a pty, TCP port, file or stdio.

Prints one machine-readable line `serial: <endpoint>` (flushed; on stderr with
`--serial stdio`, whose stdout is the firmware's output) before running; runs
until power-off, a fault, ebreak, SIGINT or SIGTERM. Exit status: the power-off
code; 128+signal after SIGINT/SIGTERM (trace written, pty closed); EXIT_FAULT
for a fault or ebreak, EXIT_LIMIT when --max-cycles ran out, EXIT_USAGE for a
bad machine, ELF or option (message on stderr). A panic of constrained-Python
firmware (power-off code PANIC_EXIT_CODE) is reported with its code and
file:line:col; a fault with its cause, PC, function, source line and registers.

Usage:
    tessera emu run [--firmware build/firmware.elf] [--hosted] [--profile edge-v2|my.toml] [--machine my.toml]
                    [--serial pty|tcp:PORT|file:PATH|stdio] [--trace run.json] [--pace] [--max-cycles N]
                    [--restore snap.tsnap] [--gdb PORT [--gdb-wait]] [--profile-out prof.folded [--coverage-out cov.info]]
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

EXIT_FAULT = 70    # EX_SOFTWARE: the firmware faulted or hit ebreak
EXIT_LIMIT = 75    # EX_TEMPFAIL: --max-cycles elapsed
EXIT_USAGE = 64    # EX_USAGE: bad machine description, ELF or option
DEFAULT_FIRMWARE = "build/firmware.elf"   # the device firmware `make setup` builds (working directory first)
REPO_FIRMWARE = Path(__file__).resolve().parents[1] / DEFAULT_FIRMWARE   # then the checkout's own build


def register(sub) -> None:
    p = sub.add_parser("emu", help="emulator: run firmware on the emulated RISC-V control core")
    es = p.add_subparsers(dest="emu_cmd", metavar="ACTION", required=True)
    r = es.add_parser("run", help="boot firmware and bridge its UART to a serial endpoint")
    r.add_argument("--firmware", help=f"ELF image (default: {DEFAULT_FIRMWARE} in the working directory, else the "
                                      "checkout's, built by make setup), or a Python module with --hosted")
    r.add_argument("--hosted", action="store_true", help="run constrained-Python firmware on the host")
    r.add_argument("--profile", help="accelerator revision profile: tiny, edge-v1, edge-v2 or a profile .toml file")
    r.add_argument("--machine", help="machine description TOML (default: emulator/machines/default.toml)")
    r.add_argument("--serial", default="pty", help="pty (default), tcp:PORT (127.0.0.1 only), file:PATH (output "
                                                   "only) or stdio (output to stdout, stdin to the UART)")
    r.add_argument("--trace", help="write a Chrome/Perfetto trace JSON of the run (virtual time)")
    r.add_argument("--pace", action="store_true", help="pace virtual time to the wall clock")
    r.add_argument("--max-cycles", type=int, default=None, help="stop after this many cycles of virtual time")
    r.add_argument("--restore", metavar="FILE", help="continue the session saved in a snapshot file "
                                                     "(same firmware and machine; see docs/bringup.md)")
    from emulator import control
    control.add_arguments(r)  # --control SOCKET, --line-faults SPEC (fault injection, snapshots)
    _add_bringup_arguments(r)
    r.set_defaults(func=_run)


def _add_bringup_arguments(r) -> None:
    r.add_argument("--gdb", type=int, metavar="PORT", help="GDB remote stub on 127.0.0.1:PORT (0: any free port)")
    r.add_argument("--gdb-wait", action="store_true", help="with --gdb: wait for the debugger before running")
    r.add_argument("--profile-out", metavar="FILE", help="cycles per function and source line as collapsed stacks "
                                                         "(flame-graph input); a summary goes to stderr")
    r.add_argument("--coverage-out", metavar="FILE", help="lcov line coverage of the firmware (with the profiler)")


def default_firmware() -> str | None:
    for path in (DEFAULT_FIRMWARE, REPO_FIRMWARE):
        if os.path.isfile(path):
            return str(path)
    return None


def _run(args) -> int:
    from emulator.elf_loader import ElfError
    from emulator.machine import MachineError
    from emulator.serial_endpoint import EndpointError
    from emulator.session import Session
    from emulator.snapshot import SnapshotError
    from emulator import control

    firmware = args.firmware
    if firmware is None:
        if args.hosted:
            print("tessera emu run: --hosted needs --firmware (a Python firmware module)", file=sys.stderr)
            return EXIT_USAGE
        firmware = default_firmware()
        if firmware is None:
            print(f"tessera emu run: {DEFAULT_FIRMWARE} not found; run make setup or pass --firmware", file=sys.stderr)
            return EXIT_USAGE
    if args.gdb_wait and args.gdb is None:
        print("tessera emu run: --gdb-wait needs --gdb PORT", file=sys.stderr)
        return EXIT_USAGE
    if (args.gdb is not None or args.restore or args.profile_out or args.coverage_out) and args.hosted:
        print("tessera emu run: --gdb, --restore, --profile-out and --coverage-out need an ELF (not --hosted)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.coverage_out and not args.profile_out:
        print("tessera emu run: --coverage-out needs --profile-out", file=sys.stderr)
        return EXIT_USAGE
    profiler = gdb = None
    try:
        session = Session(firmware, hosted=args.hosted, profile=args.profile, machine=args.machine,
                          serial=args.serial, trace=args.trace, pace=args.pace)
        session.endpoint = control.attach(session, args.control, args.line_faults)
        if args.restore:
            from emulator.snapshot import restore
            restore(session, args.restore)
        if args.profile_out:
            from emulator.profiler import Profiler
            profiler = Profiler(session)
        if args.gdb is not None:
            from emulator.gdbstub import GdbStub
            gdb = GdbStub(session, args.gdb)
    except (MachineError, ElfError, EndpointError, FileNotFoundError, control.ControlError, SnapshotError, OSError) as exc:
        print(f"tessera emu run: {exc}", file=sys.stderr)
        if "session" in locals():
            session.close()
        return EXIT_USAGE
    old = {s: signal.signal(s, lambda signum, frame: session.request_stop(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(session.endpoint.describe(), flush=True, file=sys.stderr if args.serial == "stdio" else sys.stdout)
        limit = args.max_cycles if args.max_cycles is not None else 1 << 62
        if gdb is not None:
            print(f"gdb: 127.0.0.1:{gdb.port}", flush=True, file=sys.stderr)
            info = gdb.serve(limit, wait=args.gdb_wait)
        else:
            info = session.run(max_cycles=limit)
        if profiler is not None:
            profiler.finish(args.profile_out, args.coverage_out)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if gdb is not None:
            gdb.close()
        session.close()
    print(f"exit: {info.reason} code={info.code} cycles={info.cycles}" + (f" pc=0x{info.pc:08x}" if info.pc is not None else ""),
          file=sys.stderr)
    panic = panic_report(session, info)
    if panic:
        print(panic, file=sys.stderr)
    if info.reason not in ("poweroff", "signal"):
        print(info.message, file=sys.stderr)
    return {"poweroff": info.code, "signal": info.code, "limit": EXIT_LIMIT, "panic": info.code}.get(info.reason, EXIT_FAULT)


def panic_report(session, info) -> str:
    """'panic 0xe002 (PANIC_BOUNDS) at main.py:42:9' when the firmware powered off through its panic path, else ''."""
    if info.reason != "poweroff" or getattr(session, "core", None) is None or not hasattr(session.core, "symbols"):
        return ""
    from emulator.symbolize import panic_exit_code
    if info.code != panic_exit_code():
        return ""
    sysctl = session.soc.sysctl
    code, loc = sysctl.values["SCRATCH0"], sysctl.values["SCRATCH1"]
    try:
        mepc = session.core.csr("mepc")
    except Exception:
        mepc = None
    return session.core.symbols.describe_panic(code, loc, mepc)
