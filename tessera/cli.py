"""The `tessera` command: one subcommand group per part of the platform.

Usage:
    tessera --help
    tessera --version
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


def version() -> str:
    """The installed distribution's version (pyproject.toml), or the source tree's when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version
    try:
        return dist_version("tessera")
    except PackageNotFoundError:
        return "unknown (not installed; run make setup)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera pre-silicon accelerator platform")
    parser.add_argument("--version", action="version", version=f"tessera {version()}", help="print the version and exit")
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
