"""The `tessera` command: one subcommand group per part of the platform.

Usage:
    tessera --help
    tessera model demo | tessera regmap generate | tessera emu run ... | tessera fw build ...
    tessera bench [tensorcore|emulator|toolchain|all]

Each part's CLI module exposes `register(subparsers)`; a part whose module does not
exist yet is simply not listed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules with a `register(subparsers)` function, in help order.
PARTS = (
    "asic_model.cli",
    "emulator.cli",
    "firmware.cli",
    "hostd.cli",
    "tessera.bench",
    "tessera.main_job",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera pre-silicon accelerator platform")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in PARTS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part has not landed yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
