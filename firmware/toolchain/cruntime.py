"""The entry points and the panic path of a compiled image: the C and assembly after the program's functions.

`main` (called by the crt0 of emulator/linker.py) runs the program's `main()`
and powers off with 0; `trap_handler` (called by the crt0's trap vector) runs the @trap_handler or panics with
PANIC_UNHANDLED_TRAP. The panic path is written in assembly by hand because it
is in every image and C cannot make it this small: a failed check passes only
its compact location id in a0 (one compressed `li`) and calls the stub of its
kind, `tsr_fail_<kind>` (`li a1, kind; tail tsr_fail`, each in its own section
so unused kinds are dropped by --gc-sections); `tsr_fail` forms the panic code
and falls into `tsr_panic_at(loc, code)`, which writes SYSCTL.SCRATCH0/1 and
powers off with PANIC_EXIT_CODE, or tail-calls the @panic_hook through
`tsr_panic_hook`. Register addresses and the power-off word come from the
register map. The id -> file:line:col table goes into the non-loaded ELF
section `.tsr_locations` ("<id> <file>:<line>:<col>" lines), so a panic report
can be decoded from the image alone (`tessera fw where ELF ID`).

Usage:
    from firmware.toolchain.cruntime import runtime_c
    lines = runtime_c(prog, build_info)     # appended by emit_c
"""

from __future__ import annotations

from firmware import rt
from firmware.regs import BLOCKS

CHECK_KINDS = {"overflow": rt.PANIC_OVERFLOW, "bounds": rt.PANIC_BOUNDS, "div_zero": rt.PANIC_DIV_ZERO,
               "shift": rt.PANIC_SHIFT, "conversion": rt.PANIC_CONVERSION, "align": rt.PANIC_ALIGN}
KIND_BITS = 12                     # panic code = (toolchain code base) | kind, kind in the low bits
CODE_BASE = rt.PANIC_OVERFLOW & ~((1 << KIND_BITS) - 1)
LOCATIONS_SECTION = ".tsr_locations"
assert all(c & ~((1 << KIND_BITS) - 1) == CODE_BASE for c in CHECK_KINDS.values())


def _poweroff_word(code: int) -> int:
    reg = BLOCKS["SYSCTL"].regs["POWEROFF"]
    key, cf = reg.fields["KEY"], reg.fields["CODE"]
    return ((rt._POWEROFF_KEY << key.shift) & key.mask) | ((code << cf.shift) & cf.mask)


def _asm(lines: list) -> list:
    return ["__asm__("] + [f'    "{ln}\\n"' for ln in lines] + [");"]


def panic_asm(hooked: bool, trapped: bool) -> list:
    """The check-failure stubs, tsr_fail and tsr_panic_at (and, without a @trap_handler, trap_handler)."""
    sysctl = BLOCKS["SYSCTL"]
    off = {r: sysctl.regs[r].addr - sysctl.base for r in ("SCRATCH0", "SCRATCH1", "POWEROFF")}
    lines = []
    for kind, code in CHECK_KINDS.items():
        name = f"tsr_fail_{kind}"
        lines += [f'.section .text.{name},\\"ax\\",@progbits', f".globl {name}", f".type {name},@function",
                  f"{name}:", f"li a1, {code & ((1 << KIND_BITS) - 1)}", "tail tsr_fail", f".size {name}, .-{name}"]
    if not trapped:   # no @trap_handler: a trap panics with the mcause as its location
        lines += ['.section .text.trap_handler,\\"ax\\",@progbits', ".globl trap_handler", ".type trap_handler,@function", "trap_handler:",
                  f"lui a1, {CODE_BASE >> 12}", f"addi a1, a1, {rt.PANIC_UNHANDLED_TRAP - CODE_BASE}", "tail tsr_panic_at"]
    lines += ['.section .text.tsr_fail,\\"ax\\",@progbits', ".globl tsr_fail", ".globl tsr_panic_at",
              ".type tsr_fail,@function", ".type tsr_panic_at,@function",
              "tsr_fail:", f"lui a2, {CODE_BASE >> 12}", "or a1, a1, a2",
              "tsr_panic_at:", f"li a2, {sysctl.base:#x}",
              f"sw a1, {off['SCRATCH0']}(a2)", f"sw a0, {off['SCRATCH1']}(a2)"]
    if hooked:
        lines += ["mv a3, a0", "mv a0, a1", "mv a1, a3", "tail tsr_panic_hook"]
    else:
        lines += [f"li a0, {_poweroff_word(rt.PANIC_EXIT_CODE):#x}", f"sw a0, {off['POWEROFF']}(a2)",
                  "1: wfi", "j 1b"]
    return _asm(lines + [".size tsr_fail, .-tsr_fail", ".text"])


def locations_asm(locations: dict) -> list:
    """The id -> file:line:col table as a non-loaded (no "a" flag) ELF section."""
    rows = "".join(f"{i} {where}\n" for i, where in sorted(locations.items()))
    esc = rows.replace("\\", "\\\\\\\\").replace('"', '\\\\\\"').replace("\n", "\\\\n")
    return _asm([f'.pushsection {LOCATIONS_SECTION},\\"\\",@progbits', f'.ascii \\"{esc}\\"', ".popsection"])


def runtime_c(prog, build_info: str) -> list:
    main, trap, hook = prog.main, prog.trap_handler, prog.panic_hook
    out = ["/* entry from the crt0 (emulator/linker.py): main returning powers off with exit code 0, as in hosted mode */",
           "int main(void) {", f"    {main.c_name}();", "    return 0;   /* the crt0 calls crt0_poweroff(0) */", "}", "",
           *(["void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {", "    (void)mepc; (void)mtval;",
               f"    {trap.c_name}(mcause);", "}", ""] if trap else []),
           "void tsr_poweroff(uint32_t code) {",
           "    TSR_REG(SYSCTL_POWEROFF) = ((uint32_t)TESSERA_SYSCTL_POWEROFF_KEY << SYSCTL_POWEROFF_KEY_SHIFT)"
           " | ((code << SYSCTL_POWEROFF_CODE_SHIFT) & SYSCTL_POWEROFF_CODE_MASK);",
           "    for (;;) tsr_wfi();", "}", "void crt0_poweroff(uint32_t code) __attribute__((alias(\"tsr_poweroff\")));", ""]
    if hook:
        out += ["/* reached from tsr_panic_at after SCRATCH0/1 are written */",
                "void tsr_panic_hook(uint32_t code, uint32_t loc) {", f"    {hook.c_name}(code, loc);",
                "    for (;;) tsr_wfi();", "}", ""]
    out += ["/* check failures: a0 = location id; see firmware/toolchain/cruntime.py */", *panic_asm(hook is not None, trap is not None), "",
            '__attribute__((section(".build_info"), used))',
            f"static const char tsr_build_info[] = {c_string(build_info)};", ""]
    return out + locations_asm(prog.locations) + [""]


def c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["runtime_c", "CHECK_KINDS", "LOCATIONS_SECTION", "c_string"]
