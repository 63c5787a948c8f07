"""`tessera regmap ...` and `tessera model ...`: the accelerator model's commands.

Usage:
    tessera regmap generate [--check]    # C header, JSON, Markdown from asic_model/soc_map.py
    tessera model demo [--profile NAME]  # a small accelerator run with counters and energy
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("regmap", help="register map: generate the C header, JSON and Markdown reference")
    rs = p.add_subparsers(dest="regmap_cmd", metavar="ACTION", required=True)
    g = rs.add_parser("generate", help="write docs/generated/tessera_regs.{h,json} and docs/registers.md")
    g.add_argument("--check", action="store_true", help="only check that the committed files are current")
    g.set_defaults(func=_generate)

    m = sub.add_parser("model", help="accelerator model: demo runs")
    ms = m.add_subparsers(dest="model_cmd", metavar="ACTION", required=True)
    d = ms.add_parser("demo", help="run a small GEMM job on the accelerator model and print counters")
    d.add_argument("--profile", default="edge-v1", help="revision profile name (default edge-v1)")
    d.set_defaults(func=_demo)


def _generate(args) -> int:
    from asic_model.regmap_export import OUTPUTS, generate

    stale = generate(check=args.check)
    if args.check:
        for p in stale:
            print(f"{p} is out of date; run: tessera regmap generate", file=sys.stderr)
        return 1 if stale else 0
    for p in OUTPUTS.values():
        print(f"wrote {p}")
    return 0


def _demo(args) -> int:
    from asic_model.demo import run_demo

    return run_demo(args.profile)
