"""The static memory budget: the checker proves a program's module-level data fits the target's RAM and flash.

Every module-level variable, array and record lives in RAM (.data/.bss) for the
whole run; `const(array(...))` tables live in flash (.rodata). The budget is the
target's machine description (RAM and FLASH sizes) minus the spec's stack
reserve. The sums are lower bounds (no padding, no code), so a program rejected
here can never link, and the error names the arrays in the language's terms
instead of an lld message.

Usage:
    from firmware.toolchain.budget import check_budget
    check_budget(prog)            # default target; raises FirmwareError
"""

from __future__ import annotations

from firmware.toolchain.types import BOOL, ArrayType, RecordType, error_at, tname

SHOWN = 3   # largest objects named in the message


def type_bytes(t) -> int:
    """Bytes of a firmware type in C (lower bound: no padding)."""
    if t is BOOL:
        return 1
    if isinstance(t, ArrayType):
        return t.n * type_bytes(t.elem)
    if isinstance(t, RecordType):
        return sum(type_bytes(f) for f in t.fields.values())
    return t.bits // 8


def _describe(g) -> str:
    kind = tname(g.ty) if g.kind != "record" else f"record {g.ty.name}"
    return f"`{g.name}` {kind} {type_bytes(g.ty)} bytes"


def check_budget(prog, target=None) -> None:
    from firmware.toolchain.build import load_target, machine_desc   # noqa: PLC0415  (build imports the checker)
    spec = load_target(target)
    regions = machine_desc(spec).regions
    ram, flash = regions["RAM"][1], regions["FLASH"][1]
    in_ram = [g for g in prog.globals if g.kind in ("var", "array", "record") and not getattr(g.ty, "readonly", False)]
    in_flash = [g for g in prog.globals if g.kind == "array" and g.ty.readonly]
    avail = ram - spec.stack_reserve
    for objs, room, what in ((in_ram, avail, f"the {avail} bytes of RAM the target leaves for it "
                              f"({ram} bytes of RAM minus the {spec.stack_reserve}-byte stack reserve)"),
                             (in_flash, flash, f"the {flash} bytes of flash of the target")):
        total = sum(type_bytes(g.ty) for g in objs)
        if total <= room:
            continue
        big = sorted(objs, key=lambda g: -type_bytes(g.ty))
        where = "RAM" if objs is in_ram else "flash"
        raise error_at(str(big[0].module.path), big[0].node,
                       f"static data needs {total} bytes of {where}, {total - room} more than {what}; largest: "
                       + ", ".join(_describe(g) for g in big[:SHOWN]),
                       "shrink these arrays" + (", or put read-only tables in flash with const(array(T, N, init))"
                                                if where == "RAM" else ""))
