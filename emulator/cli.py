"""`tessera emu run`: boot firmware on the emulated control core and bridge its UART to a pty or TCP port.

Prints one machine-readable line `serial: <endpoint>` (flushed) before running;
runs until power-off, a fault, ebreak, SIGINT or SIGTERM. Exit status: the
power-off code; 128+signal after SIGINT/SIGTERM (trace written, pty closed);
EXIT_FAULT for a fault or ebreak, EXIT_LIMIT when --max-cycles ran out,
EXIT_USAGE for a bad machine, ELF or option (message on stderr).

Usage:
    tessera emu run [--firmware build/firmware.elf] [--hosted] [--profile edge-v2] [--machine my.toml]
                    [--serial pty|tcp:PORT] [--trace run.json] [--pace] [--max-cycles N]
"""

from __future__ import annotations

import os
import signal
import sys

EXIT_FAULT = 70    # EX_SOFTWARE: the firmware faulted or hit ebreak
EXIT_LIMIT = 75    # EX_TEMPFAIL: --max-cycles elapsed
EXIT_USAGE = 64    # EX_USAGE: bad machine description, ELF or option
DEFAULT_FIRMWARE = "build/firmware.elf"   # the device firmware `make setup` builds (relative to the working directory)


def register(sub) -> None:
    p = sub.add_parser("emu", help="emulator: run firmware on the emulated RISC-V control core")
    es = p.add_subparsers(dest="emu_cmd", metavar="ACTION", required=True)
    r = es.add_parser("run", help="boot firmware and bridge its UART to a serial endpoint")
    r.add_argument("--firmware", help=f"ELF image (default: {DEFAULT_FIRMWARE}, built by make setup), "
                                      "or a Python module with --hosted")
    r.add_argument("--hosted", action="store_true", help="run constrained-Python firmware on the host")
    r.add_argument("--profile", help="accelerator revision profile (tiny, edge-v1, edge-v2)")
    r.add_argument("--machine", help="machine description TOML (default: emulator/machines/default.toml)")
    r.add_argument("--serial", default="pty", help="pty (default) or tcp:PORT (127.0.0.1 only)")
    r.add_argument("--trace", help="write a Chrome/Perfetto trace JSON of the run (virtual time)")
    r.add_argument("--pace", action="store_true", help="pace virtual time to the wall clock")
    r.add_argument("--max-cycles", type=int, default=None, help="stop after this many cycles of virtual time")
    from emulator import control
    control.add_arguments(r)  # --control SOCKET, --line-faults SPEC (fault injection)
    r.set_defaults(func=_run)


def _run(args) -> int:
    from emulator.elf_loader import ElfError
    from emulator.machine import MachineError
    from emulator.serial_endpoint import EndpointError
    from emulator.session import Session
    from emulator import control

    firmware = args.firmware
    if firmware is None:
        if args.hosted:
            print("tessera emu run: --hosted needs --firmware (a Python firmware module)", file=sys.stderr)
            return EXIT_USAGE
        if not os.path.isfile(DEFAULT_FIRMWARE):
            print(f"tessera emu run: {DEFAULT_FIRMWARE} not found; run make setup or pass --firmware", file=sys.stderr)
            return EXIT_USAGE
        firmware = DEFAULT_FIRMWARE
    try:
        session = Session(firmware, hosted=args.hosted, profile=args.profile, machine=args.machine,
                          serial=args.serial, trace=args.trace, pace=args.pace)
        session.endpoint = control.attach(session, args.control, args.line_faults)
    except (MachineError, ElfError, EndpointError, FileNotFoundError, control.ControlError) as exc:
        print(f"tessera emu run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    old = {s: signal.signal(s, lambda signum, frame: session.request_stop(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(session.endpoint.describe(), flush=True)
        limit = args.max_cycles if args.max_cycles is not None else 1 << 62
        info = session.run(max_cycles=limit)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        session.close()
    print(f"exit: {info.reason} code={info.code} cycles={info.cycles}" + (f" pc=0x{info.pc:08x}" if info.pc is not None else ""),
          file=sys.stderr)
    if info.reason not in ("poweroff", "signal"):
        print(info.message, file=sys.stderr)
    return {"poweroff": info.code, "signal": info.code, "limit": EXIT_LIMIT, "panic": info.code}.get(info.reason, EXIT_FAULT)
