"""Generate the C header, JSON description and Markdown reference from the register map.

Output is reproducible (no timestamps, stable order); `tests/asic_model/test_regmap_export.py`
fails when a committed copy drifts from its source.

Usage:
    python -m asic_model.regmap_export            # writes the files listed in OUTPUTS
    tessera regmap generate [--check]
    from asic_model.regmap_export import c_header, json_description, markdown_reference
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from asic_model.soc_map import CONSTANTS, MEMORY, SOC, SocMap

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = {
    "c": REPO / "docs/generated/tessera_regs.h",
    "json": REPO / "docs/generated/tessera_regs.json",
    "md": REPO / "docs/registers.md",
}
_BANNER = "Generated from asic_model/soc_map.py by asic_model/regmap_export.py. Do not edit."


def c_header(soc: SocMap = SOC) -> str:
    out = [f"/* {_BANNER} */", "#ifndef TESSERA_REGS_H", "#define TESSERA_REGS_H", "", "#include <stdint.h>", ""]
    out.append("/* ---- memory map ---- */")
    for r in MEMORY:
        out.append(f"#define TESSERA_{r.name}_BASE 0x{r.base:08x}u  /* {r.doc} */")
        out.append(f"#define TESSERA_{r.name}_MAX_SIZE 0x{r.max_size:08x}u")
    out += ["", "/* ---- constants ---- */"]
    for c in CONSTANTS.values():
        out.append(f"#define TESSERA_{c.name} 0x{c.value:x}u  /* {c.doc} */")
    for block in soc:
        out += ["", f"/* ---- {block.name}: {block.doc.splitlines()[0]} ---- */",
                f"#define {block.name}_BASE 0x{block.base:08x}u"]
        for reg in block:
            out.append(f"#define {block.name}_{reg.name}_OFFSET 0x{reg.offset:03x}u  /* {reg.access}: {reg.doc} */")
            out.append(f"#define {block.name}_{reg.name} ({block.name}_BASE + {block.name}_{reg.name}_OFFSET)")
            if reg.reset:
                out.append(f"#define {block.name}_{reg.name}_RESET 0x{reg.reset:08x}u")
            for f in reg.fields:
                p = f"{block.name}_{reg.name}_{f.name}"
                out.append(f"#define {p}_SHIFT {f.lo}u")
                out.append(f"#define {p}_MASK 0x{f.mask:08x}u")
    out += ["", "/* ---- access helpers ---- */",
            "static inline uint32_t tessera_read32(uint32_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }",
            "static inline void tessera_write32(uint32_t addr, uint32_t v) { *(volatile uint32_t *)(uintptr_t)addr = v; }",
            "#define TESSERA_REG_READ(block, reg) tessera_read32(block##_##reg)",
            "#define TESSERA_REG_WRITE(block, reg, v) tessera_write32(block##_##reg, (v))",
            "#define TESSERA_FIELD_GET(block, reg, field, v) (((v) & block##_##reg##_##field##_MASK) >> block##_##reg##_##field##_SHIFT)",
            "#define TESSERA_FIELD_PREP(block, reg, field, x) (((uint32_t)(x) << block##_##reg##_##field##_SHIFT) & block##_##reg##_##field##_MASK)",
            "", "#endif /* TESSERA_REGS_H */", ""]
    return "\n".join(out)


def json_description(soc: SocMap = SOC) -> str:
    doc = {
        "generated": _BANNER,
        "memory": [{"name": r.name, "base": r.base, "max_size": r.max_size, "doc": r.doc} for r in MEMORY],
        "constants": [{"name": c.name, "value": c.value, "doc": c.doc} for c in CONSTANTS.values()],
        "blocks": [{
            "name": b.name, "base": b.base, "size": b.size, "doc": b.doc,
            "registers": [{
                "name": r.name, "offset": r.offset, "width": r.width, "access": r.access, "reset": r.reset, "doc": r.doc,
                "fields": [{"name": f.name, "hi": f.hi, "lo": f.lo, "doc": f.doc} for f in r.fields],
            } for r in b],
        } for b in soc],
    }
    return json.dumps(doc, indent=1) + "\n"


def markdown_reference(soc: SocMap = SOC) -> str:
    out = ["# Tessera register reference", "", f"<!-- {_BANNER} -->", "",
           "## Memory map", "", "| region | base | max size | contents |", "|---|---|---|---|"]
    out += [f"| {r.name} | `0x{r.base:08x}` | {r.max_size // 1024} KiB | {r.doc} |" for r in MEMORY]
    out += ["", "## Blocks", "", "| block | base | registers |", "|---|---|---|"]
    out += [f"| [{b.name}](#{b.name.lower()}) | `0x{b.base:08x}` | {len(b.regs)} |" for b in soc]
    for b in soc:
        out += ["", f"## {b.name}", "", b.doc, "", "| offset | register | access | reset | description |", "|---|---|---|---|---|"]
        for r in b:
            out.append(f"| `0x{r.offset:03x}` | {r.name} | {r.access} | `0x{r.reset:x}` | {r.doc} |")
            for f in r.fields:
                bits = f"{f.hi}" if f.hi == f.lo else f"{f.hi}:{f.lo}"
                out.append(f"| | `.{f.name}` [{bits}] | | | {f.doc} |")
    out += ["", "## Constants", "", "| name | value | meaning |", "|---|---|---|"]
    out += [f"| {c.name} | `0x{c.value:x}` | {c.doc} |" for c in CONSTANTS.values()]
    return "\n".join(out) + "\n"


GENERATORS = {"c": c_header, "json": json_description, "md": markdown_reference}


def generate(check: bool = False) -> list[Path]:
    """Write every output (or, with check, return the ones that differ from their source)."""
    stale = []
    for kind, path in OUTPUTS.items():
        text = GENERATORS[kind]()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return stale


if __name__ == "__main__":
    bad = generate(check="--check" in sys.argv)
    for p in bad:
        print(f"{p} is out of date; run: tessera regmap generate", file=sys.stderr)
    sys.exit(1 if bad else 0)
