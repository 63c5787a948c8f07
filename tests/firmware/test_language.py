"""The gaps a newcomer hits, closed: C-hostile names, messages that name the construct, constant shift counts,
character constants, record array fields, `for x in array`, the static memory budget, the real SRAM/DRAM
bounds of mem_*, the watchdog warning and reset notice, and debug info that names the .py source lines.

Each runs in both modes on the real emulator where it runs at all; every message is pinned exactly.
"""

from __future__ import annotations

import os

import pytest
from elftools.elf.elffile import ELFFile

from firmware import regs, rt
from firmware.toolchain.build import build
from firmware.toolchain.checker import check_program
from firmware.toolchain.types import FirmwareError
from tests.firmware.conftest import EXAMPLES, run_session, scratch_writes

HEAD = "from firmware.rt import *\nfrom firmware.regs import UART\n"
CASES = {
    "print": "def main() -> None:\n    print('hi')\n",
    "str_argument": "def f(x: u32) -> None:\n    pass\ndef main() -> None:\n    f('a')\n",
    "ord_long": "def main() -> None:\n    mmio_write(UART.DATA, ord('ab'))\n",
    "ord_value": "def main() -> None:\n    x: u32 = 1\n    mmio_write(UART.DATA, ord(x))\n",
    "shift_const": "def main() -> None:\n    x: u32 = mmio_read(UART.STATUS)\n    mmio_write(UART.DATA, x << 32)\n",
    "shift_aug": "def main() -> None:\n    x: u8 = 1\n    x >>= 8\n",
    "wrapping_shl_const": "def main() -> None:\n    x: u16 = 1\n    y: u16 = wrapping_shl(x, 16)\n",
    "for_int": "def main() -> None:\n    x: u32 = 3\n    for i in x:\n        pass\n",
    "ram_budget": "big = array(u32, 70000)\nsmall = array(u8, 10)\ndef main() -> None:\n    big[0] = 1\n",
    "flash_budget": "def f(i: u32) -> u32:\n    return i\nT = const(array(u32, 300000, f))\ndef main() -> None:\n    mmio_write(UART.DATA, T[0])\n",
    "atomic_const": "N: atomic(u32) = const(3)\ndef main() -> None:\n    pass\n",
}
EXPECTED = {
    'print': ':4:5: error: found a call of `print` (a Python builtin); firmware has no stdout: write bytes to UART.DATA with mmio_write',
    'str_argument': ':6:7: error: found a str (an argument of `f`); firmware has no strings: send bytes over the UART with mmio_write; a character code is ord("A")',
    'ord_long': ':4:31: error: found ord() of a 2-character str; a character constant is ord() of one character: ord("0")',
    'ord_value': ':5:27: error: ord() of a value; ord() takes one character literal: ord("A") (a compile-time character code)',
    'shift_const': ':5:32: error: shift count 32 on a u32 (the count must be 0..31; this shift would always panic with PANIC_SHIFT); shift by 0..31, or convert the value to a wider type first',
    'shift_aug': ':5:11: error: shift count 8 on a u8 (the count must be 0..7; this shift would always panic with PANIC_SHIFT); shift by 0..7, or convert the value to a wider type first',
    'wrapping_shl_const': ':5:30: error: shift count 16 on a u16 (the count must be 0..15; this shift would always panic with PANIC_SHIFT); shift by 0..15, or convert the value to a wider type first',
    'for_int': ':5:14: error: a for loop over a u32; iterate over an array, range() or unroll()',
    'ram_budget': ':3:1: error: static data needs 280010 bytes of RAM, 21962 more than the 258048 bytes of RAM the target leaves for it (262144 bytes of RAM minus the 4096-byte stack reserve); largest: `big` array(u32, 70000) 280000 bytes, `small` array(u8, 10) 10 bytes; shrink these arrays, or put read-only tables in flash with const(array(T, N, init))',
    'flash_budget': ':5:1: error: static data needs 1200000 bytes of flash, 151424 more than the 1048576 bytes of flash of the target; largest: `T` array(u32, 300000) 1200000 bytes; shrink these arrays',
    'atomic_const': ':3:1: error: constant `N` declared atomic; constants never change; drop atomic()',
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rejected_with_exact_message(name, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + CASES[name])
    with pytest.raises(FirmwareError) as exc:
        check_program(path)
    assert str(exc.value) == f"{path}{EXPECTED[name]}"


def test_budget_rejects_before_hosted_runs(tmp_path):
    from firmware.toolchain.hosted import load_module
    path = tmp_path / "big.py"
    path.write_text(HEAD + CASES["ram_budget"])
    with pytest.raises(FirmwareError, match="static data needs 280010 bytes of RAM"):
        load_module(path)


def both_modes(src, tmp_path, max_cycles=5_000_000):
    elf = build(src, out=tmp_path / f"{src.stem}.elf").elf
    return run_session(elf, hosted=False, max_cycles=max_cycles), run_session(src, hosted=True, max_cycles=max_cycles)


NAMES = HEAD + '''
@record
class Rec:
    int: u32
    default: u8

r = Rec()

def switch(case: u32, default: u32) -> u32:
    _t1: u32 = case + default
    UART_DATA: u32 = _t1 * 2
    range: u32 = UART_DATA + 1
    _rt: u32 = range + 1
    return _rt

def main() -> None:
    int: u32 = switch(1, 2)
    r.int = int
    r.default = 3
    for tsr_x in range(2):
        r.int += tsr_x
    mmio_write(UART.DATA, r.int + r.default)
'''


def test_c_keywords_emitter_names_macros_and_file_names_are_mangled(tmp_path):
    src = tmp_path / "my-fw.py"
    src.write_text(NAMES)
    (ci, cout, _), (hi, hout, _) = both_modes(src, tmp_path)
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", 0)
    assert cout == hout == bytes([9 + 3])     # switch(1, 2) = 8, + 0 + 1 in the loop, + 3


FEATURES = HEAD + '''
TAPS = const(4)

@record
class Filt:
    coef: array(i16, TAPS)
    hist: array(i16, TAPS)

f = Filt()
data = array(u8, 5, [1, 2, 3, 4, 5])

def dot(r: Filt) -> i32:
    acc: i32 = 0
    for k in range(TAPS):
        acc += i32(r.coef[k]) * r.hist[k]
    return acc

def total(buf: array(u8, 5)) -> u32:
    t: u32 = 0
    for b in buf:
        t += b
    return t

def main() -> None:
    for k in range(TAPS):
        f.coef[k] = i16(k + 1)
        f.hist[k] = i16(-2)
    s: u32 = 0
    for b in data:          # each element is read when its iteration starts, as in Python
        s += b
        data[4] = 10
    mmio_write(UART.DATA, s)
    mmio_write(UART.DATA, total(data))
    mmio_write(UART.DATA, u32(-dot(f)))
    for c in f.coef:
        mmio_write(UART.DATA, u32(c))
    mmio_write(UART.DATA, ord("0"))
'''


def test_record_array_fields_for_in_array_and_character_constants(tmp_path):
    src = tmp_path / "features.py"
    src.write_text(FEATURES)
    (ci, cout, _), (hi, hout, _) = both_modes(src, tmp_path)
    assert (ci.reason, hi.reason) == ("poweroff", "poweroff")
    assert cout == hout == bytes([20, 20, 20, 1, 2, 3, 4, ord("0")])


def test_memory_regions_are_register_map_constants_with_real_sizes():
    assert (regs.SRAM_BASE, regs.SRAM_SIZE) == regs.MACHINE.regions["SRAM"]
    assert (regs.DRAM_BASE, regs.DRAM_SIZE) == regs.MACHINE.regions["DRAM"]
    assert (regs.RAM_BASE, regs.RAM_SIZE) == regs.MACHINE.regions["RAM"]
    from asic_model.soc_map import region
    assert regs.SRAM_SIZE < region("SRAM").max_size    # the profile's SRAM is smaller than its address window


MEM = HEAD + '''from firmware.regs import SRAM_BASE, SRAM_SIZE, SYSCTL

def main() -> None:
    top: u32 = SRAM_BASE + SRAM_SIZE - 4 + mmio_read(SYSCTL.BOOT_COUNT) * 0
    mem_write32(top, 0x1234)
    mmio_write(UART.DATA, mem_read32(top) & 0xFF)
    mem_write32(top + 4, 1)
'''


def test_mem_access_past_the_real_sram_panics_with_bounds_in_both_modes(tmp_path):
    src = tmp_path / "mem.py"
    src.write_text(MEM)
    (ci, cout, ctrace), (hi, hout, htrace) = both_modes(src, tmp_path)
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", rt.PANIC_EXIT_CODE)
    assert cout == hout == b"\x34"
    assert [v for _, v in scratch_writes(ctrace)][0] == [v for _, v in scratch_writes(htrace)][0] == rt.PANIC_BOUNDS


WDT_PROG = HEAD + '''from firmware.regs import WDT

def main() -> None:
    mmio_write(UART.DATA, 0x42)
    mmio_write(WDT.TIMEOUT, 20000)
    mmio_write(WDT.CTRL, 1)
    n: u32 = 0
    while True:
        n = wrapping_add(n, 1)
'''


def test_unkicked_watchdog_warns_and_each_reset_is_reported(tmp_path, capfd):
    src = tmp_path / "wdt.py"
    src.write_text(WDT_PROG)
    assert check_program(src).warnings == [
        f"{src}:10:5: warning: this `while True:` loop never kicks the watchdog the program enables, so the core "
        "resets at every timeout; kick it in the loop: mmio_write(WDT.KICK, WDT_KICK_KEY)"]
    capfd.readouterr()
    (ci, cout, _), (hi, hout, _) = both_modes(src, tmp_path, max_cycles=50_000)
    err = capfd.readouterr().err
    assert ci.reason == hi.reason == "limit" and cout == hout == b"BBB"     # booted three times
    notices = [ln for ln in err.splitlines() if ln.startswith("tessera emu: watchdog reset at cycle ")]
    assert len(notices) == 4 and all(ln.endswith("did not write WDT.KICK within WDT.TIMEOUT; the core restarts")
                                     for ln in notices)


def test_kicked_watchdog_gives_no_warning(tmp_path):
    src = tmp_path / "kick.py"
    src.write_text(WDT_PROG.replace("from firmware.regs import WDT", "from firmware.regs import WDT, WDT_KICK_KEY")
                   + "        mmio_write(WDT.KICK, WDT_KICK_KEY)\n")
    assert check_program(src).warnings == []


def test_a_loop_that_ends_gives_no_watchdog_warning(tmp_path):
    """A `while True:` left by its own `break` or a `return` is not an endless loop (the device's frame encoder and
    stream interpreter are such loops); a `break` of an inner loop does not end the outer one."""
    ends = WDT_PROG + "        if n == 10:\n            break\n"
    returns = WDT_PROG + "        if n == 10:\n            return\n"
    inner = WDT_PROG + "        while True:\n            break\n"
    for i, prog in enumerate((ends, returns, inner)):
        src = tmp_path / f"loop{i}.py"
        src.write_text(prog)
        assert len(check_program(src).warnings) == (1 if prog is inner else 0), prog


def _line_rows(elf):
    """(address, file basename, line) of every row of the image's DWARF line table."""
    rows = []
    with open(elf, "rb") as f:
        e = ELFFile(f)
        syms = {s.name: (s["st_value"], s["st_size"]) for s in e.get_section_by_name(".symtab").iter_symbols()}
        dw = e.get_dwarf_info()
        for cu in dw.iter_CUs():
            lp = dw.line_program_for_CU(cu)
            files, v5 = lp["file_entry"], lp.header.version >= 5
            for ent in lp.get_entries():
                st = ent.state
                if st is not None and not st.end_sequence:
                    fe = files[st.file if v5 else st.file - 1]
                    rows.append((st.address, os.path.basename(fe.name.decode()), st.line))
    return syms, rows


def test_debug_info_maps_addresses_to_the_python_source_lines(tmp_path):
    src = EXAMPLES / "shared_counter.py"
    res = build(src, out=tmp_path / "sc.elf")
    c = res.c_file.read_text()
    assert f'#line 41 "{src.resolve()}"' in c or f'#line 39 "{src.resolve()}"' in c
    syms, rows = _line_rows(res.elf)
    lo, size = syms["shared_counter__put_u32"]          # def put_u32 is lines 37-41 of shared_counter.py
    inside = {(f, ln) for a, f, ln in rows if lo <= a < lo + size and f == "shared_counter.py" and ln}
    assert {("shared_counter.py", 39), ("shared_counter.py", 41)} <= inside
    assert all(37 <= ln <= 41 for _, ln in inside)
    assert not any(f.endswith(".c") for a, f, _ in rows if lo <= a < lo + size)


def test_every_c_keyword_and_reserved_name_works_as_a_local(tmp_path):
    """All C keywords, type names, header macros and emitter temporaries that Python accepts as names."""
    import keyword
    from firmware.toolchain.cnames import C_KEYWORDS
    names = sorted(n for n in C_KEYWORDS | {"_t1", "_i1", "_c1", "UART_DATA", "TSR_REG", "tsr_panic_at", "uint32_t",
                                             "INT32_MIN", "x__y", "_l_int"}
                   if not keyword.iskeyword(n) and n not in dir(rt) and n != "main")
    body = "".join(f"    {n}: u32 = {k + 1}\n    acc += {n}\n" for k, n in enumerate(names))
    src = tmp_path / "kw.py"
    src.write_text(HEAD + "def main() -> None:\n    acc: u32 = 0\n" + body + "    mmio_write(UART.DATA, acc & 0xFF)\n")
    (ci, cout, _), (hi, hout, _) = both_modes(src, tmp_path)
    assert len(names) >= 30
    assert (ci.reason, hi.reason) == ("poweroff", "poweroff")
    assert cout == hout == bytes([(len(names) * (len(names) + 1) // 2) & 0xFF])


def test_fw_check_prints_the_watchdog_warning(tmp_path):
    import subprocess
    import sys
    from tests.firmware.conftest import REPO
    src = tmp_path / "wdt.py"
    src.write_text(WDT_PROG)
    res = subprocess.run([sys.executable, "-m", "tessera.cli", "fw", "check", str(src)], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith(f"{src}: ok")
    assert res.stderr == f"{src}:10:5: warning: this `while True:` loop never kicks the watchdog the program enables, " \
                         "so the core resets at every timeout; kick it in the loop: mmio_write(WDT.KICK, WDT_KICK_KEY)\n"


def test_disabling_the_watchdog_gives_no_warning(tmp_path):
    src = tmp_path / "off.py"
    src.write_text(WDT_PROG.replace("mmio_write(WDT.CTRL, 1)", "mmio_write(WDT.CTRL, 0)"))
    assert check_program(src).warnings == []
