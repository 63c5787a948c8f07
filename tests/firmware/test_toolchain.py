"""Compile-time features, panics in both modes, build outputs (ELF, build info, sizes, stack), heap check, CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from elftools.elf.elffile import ELFFile

from asic_model.soc_map import SYSCTL
from firmware import rt
from firmware.toolchain.build import BuildError, build, load_target
from firmware.toolchain.report import check_no_heap, locations_table
from tests.firmware.conftest import REPO, run_session, scratch_writes

COMPTIME = textwrap.dedent('''
    from firmware.rt import u8, u32, array, const, unroll, mmio_write, poweroff
    from firmware.regs import UART
    DEBUG = const(False)
    N = const(4)
    SCALE = const(N * 3 + 1)
    buf = array(u8, N)

    def main() -> None:
        for i in unroll(N):
            buf[i] = u8(i * SCALE)
        if DEBUG:
            mmio_write(UART.DATA, 0xAA)
        total: u32 = 0
        for i in range(N):
            total += buf[i]
        mmio_write(UART.DATA, total)
        poweroff(0)
''')

PANICS = textwrap.dedent('''
    from firmware.rt import u8, u32, array, mmio_read, mmio_write
    from firmware.regs import UART, SYSCTL
    buf = array(u8, 8)

    def main() -> None:
        n: u32 = mmio_read(SYSCTL.BOOT_COUNT) + 8
        mmio_write(UART.DATA, 1)
        buf[n] = 3
''')


@pytest.fixture(scope="module")
def comptime_build(tmp_path_factory):
    d = tmp_path_factory.mktemp("ct")
    (d / "ct.py").write_text(COMPTIME)
    return d / "ct.py", build(d / "ct.py", out=d / "ct.elf")


def test_unroll_const_folding_and_dead_branches(comptime_build):
    src, res = comptime_build
    c = res.c_file.read_text()
    assert "/* unroll i = 3 */" in c and "0xAA" not in c and "170" not in c   # dead branch removed
    assert "u8(i * SCALE)" not in c and "= 39u" in c or "39" in c            # 3 * 13 folded
    for fw, hosted in ((res.elf, False), (src, True)):
        info, out, _ = run_session(fw, hosted)
        assert (info.reason, info.code, out) == ("poweroff", 0, bytes([0 + 13 + 26 + 39]))


def test_build_outputs(comptime_build):
    _, res = comptime_build
    spec = load_target()
    with open(res.elf, "rb") as f:
        elf = ELFFile(f)
        info = elf.get_section_by_name(".build_info").data().decode()
        assert f"target={spec.name}" in info and f"target_sha256={spec.sha256[:16]}" in info and "source_sha256=" in info
        assert elf.header.e_machine == "EM_RISCV" and elf.elfclass == 32
    s = res.sizes
    assert s["text"] > 0 and s["flash"] == s["text"] + s["rodata"] + s["data"] + s["other"] + s["build_info"] and s["build_info"] > 0 and s["ram"] == s["data"] + s["bss"]
    assert res.stack["complete"] and 0 < res.stack["max_stack"] <= spec.stack_reserve
    assert res.map.read_text().count(".text") > 0
    assert "max stack" in res.report()


def test_panic_is_identical_in_both_modes(tmp_path):
    src = tmp_path / "p.py"
    src.write_text(PANICS)
    res = build(src, out=tmp_path / "p.elf")
    results = [run_session(fw, hosted) for fw, hosted in ((res.elf, False), (src, True))]
    (ci, cout, ctrace), (hi, hout, htrace) = results
    loc = next(i for i, where in res.locations.items() if where == f"{src}:9:5")   # buf[n] at line 9, column 5
    assert 0 < loc < 32                          # compact: fits one compressed `li`
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", rt.PANIC_EXIT_CODE)
    assert scratch_writes(ctrace) == scratch_writes(htrace) == [
        (SYSCTL.addr("SCRATCH0"), rt.PANIC_BOUNDS), (SYSCTL.addr("SCRATCH1"), loc)]
    assert cout == hout == b"\x01"
    assert locations_table(res.elf) == res.locations          # the image alone decodes the report
    r = subprocess.run([sys.executable, "-m", "tessera.cli", "fw", "where", str(res.elf), str(loc)],
                       capture_output=True, text=True, cwd=REPO)
    assert (r.returncode, r.stdout.strip()) == (0, f"{src}:9:5")


def test_heap_symbols_fail_the_build(tmp_path):
    c = tmp_path / "heap.c"
    c.write_text("char pool[64]; void *malloc(unsigned n) { return pool + n; }\nvoid _start(void) { malloc(4); for (;;) {} }\n")
    elf = tmp_path / "heap.elf"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "riscv32-freestanding-none", "-mcpu=generic_rv32+m+c",
                    "-ffreestanding", "-nostdlib", "-O1", "-o", str(elf), str(c)], check=True, capture_output=True)
    with pytest.raises(BuildError, match=r"heap symbols malloc; firmware must not allocate"):
        check_no_heap(elf)


def test_bad_target_spec_is_named(tmp_path):
    t = tmp_path / "bad.toml"
    t.write_text('[target]\nname = "x"\ntriple = "riscv32-freestanding-none"\ncpu = "generic_rv32"\n[codegen]\nopt_level = "9"\n')
    with pytest.raises(BuildError, match=r"bad.toml: \[codegen\] opt_level '9' is not one of 0, 1, 2, 3, s, z"):
        load_target(t)


def test_cli_check_and_build(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from firmware.rt import *\ndef main() -> None:\n    x = 1.5\n")
    tessera = [sys.executable, "-m", "tessera.cli", "fw"]
    r = subprocess.run(tessera + ["check", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 1 and r.stderr.strip() == f"{bad}:3:9: error: found a float literal 1.5; firmware has integers only: use scaled integers (e.g. milli-units in u32)"
    out = tmp_path / "crc.elf"
    r = subprocess.run(tessera + ["build", "firmware/examples/crc32.py", "-o", str(out), "--report"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "max stack" in r.stdout and "rodata" in r.stdout


def test_sibling_module_import_in_both_modes(tmp_path):
    (tmp_path / "mathlib.py").write_text(textwrap.dedent('''
        from firmware.rt import u32, array, const
        K = const(3)
        table = array(u32, 4)

        def scale(x: u32) -> u32:
            table[x & 3] = x
            return x * K + table[x & 3]
    '''))
    (tmp_path / "app.py").write_text(textwrap.dedent('''
        from firmware.rt import u32, mmio_write
        from firmware.regs import UART
        from mathlib import scale, K

        def main() -> None:
            mmio_write(UART.DATA, scale(10) + K)
    '''))
    res = build(tmp_path / "app.py", out=tmp_path / "app.elf")
    assert "mathlib__scale" in res.c_file.read_text()
    for fw, hosted in ((res.elf, False), (tmp_path / "app.py", True)):
        info, out, _ = run_session(fw, hosted)
        assert (info.reason, info.code, out) == ("poweroff", 0, bytes([43]))


ELIDED = textwrap.dedent('''
    from firmware.rt import u8, u32, array, const, mmio_write
    from firmware.regs import UART
    N = const(16)
    buf = array(u8, N)
    big = array(u32, 256)

    def main() -> None:
        for i in range(N):
            buf[i] = u8((i * 13 + 7) & 0xFF)
        s: u32 = 0
        for j in range(N):
            s += big[buf[j]]
        mmio_write(UART.DATA, s + 1)
        for k in range(4):
            for k in range(20):
                s += 1
            buf[k] = 1
''')


def test_checks_proven_unnecessary_are_dropped_in_both_modes(tmp_path):
    src = tmp_path / "el.py"
    src.write_text(ELIDED)
    res = build(src, out=tmp_path / "el.elf")
    c = res.c_file.read_text()
    # range(N) index into N elements, a u8 index into 256, i * 13 + 7 < 2^32, a masked conversion: no checks
    assert "el__buf[i] = " in c and "el__big[el__buf[j]]" in c and "tsr_conv_u8" not in c and "tsr_mul" not in c
    # an inner loop reusing the name leaves k == 19 behind: that store stays checked and panics in both modes
    assert "tsr_idx_u(k, 16u" in c
    results = [run_session(fw, hosted) for fw, hosted in ((res.elf, False), (src, True))]
    (ci, cout, ctrace), (hi, hout, htrace) = results
    loc = next(i for i, where in res.locations.items() if where == f"{src}:18:9")
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", rt.PANIC_EXIT_CODE)
    assert scratch_writes(ctrace) == scratch_writes(htrace) == [
        (SYSCTL.addr("SCRATCH0"), rt.PANIC_BOUNDS), (SYSCTL.addr("SCRATCH1"), loc)]
    assert cout == hout == b"\x01"


def test_package_and_relative_imports_in_both_modes(tmp_path):
    """`from firmware.protocol_v1 import` (the shared protocol constants), `from .sib import` and a
    sibling imported under two spellings (one module); a same-stem module elsewhere gets a qualified C name."""
    from firmware import protocol_v1
    pkg = tmp_path / "fwpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "protocol_v1.py").write_text("from firmware.rt import const\nLOCAL = const(5)\n")
    (pkg / "helper.py").write_text(textwrap.dedent('''
        from firmware.rt import u32
        from firmware.protocol_v1 import HEADER_SIZE

        def twice(x: u32) -> u32:
            return x * 2 + HEADER_SIZE
    '''))
    (pkg / "app.py").write_text(textwrap.dedent('''
        from firmware.rt import mmio_write
        from firmware.regs import UART
        from firmware.protocol_v1 import CRC_SIZE
        from .helper import twice
        from helper import twice as twice2
        from .sub.protocol_v1 import LOCAL

        def main() -> None:
            mmio_write(UART.DATA, twice(CRC_SIZE) + twice2(LOCAL))
    '''))
    res = build(pkg / "app.py", out=tmp_path / "app.elf")
    c = res.c_file.read_text()
    assert c.count("static uint32_t helper__twice(") == 2                            # declared + defined once
    from firmware.toolchain.checker import check_program
    assert sorted(m.name for m in check_program(pkg / "app.py").modules) == ["app", "helper", "protocol_v1", "sub_protocol_v1"]
    want = 2 * protocol_v1.CRC_SIZE + protocol_v1.HEADER_SIZE + 2 * 5 + protocol_v1.HEADER_SIZE
    for fw, hosted in ((res.elf, False), (pkg / "app.py", True)):
        info, out, _ = run_session(fw, hosted)
        assert (info.reason, info.code, out) == ("poweroff", 0, bytes([want]))


def test_import_outside_the_firmware_package_is_rejected(tmp_path):
    from firmware.toolchain.checker import check_program
    from firmware.toolchain.types import FirmwareError
    src = tmp_path / "t.py"
    src.write_text("from firmware.toolchain.build import build\ndef main() -> None:\n    pass\n")
    with pytest.raises(FirmwareError, match=r"t.py:1:1: error: import of `firmware.toolchain.build`; firmware imports only"):
        check_program(src)


MMIO_AT = textwrap.dedent('''
    from firmware.rt import u32, mmio_read_at, mmio_write_at
    from firmware.regs import UART, SYSCTL

    def main() -> None:
        data: u32 = UART.DATA.addr
        mmio_write_at(data, 0x41 + mmio_read_at(SYSCTL.BOOT_COUNT.addr))
        mmio_write_at(UART.base + UART.size - 4 * 1024, 0x42)
        mmio_write_at(0x20000000 + mmio_read_at(SYSCTL.BOOT_COUNT.addr), 1)
''')


def test_mmio_at_a_run_time_address_is_checked_in_both_modes(tmp_path):
    """mmio_read_at/mmio_write_at reach registers by run-time address (BLOCK.REG.addr, BLOCK.base/.size are
    constants); an address outside the MMIO window panics with PANIC_BOUNDS at its location in both modes."""
    src = tmp_path / "mm.py"
    src.write_text(MMIO_AT)
    res = build(src, out=tmp_path / "mm.elf")
    results = [run_session(fw, hosted) for fw, hosted in ((res.elf, False), (src, True))]
    (ci, cout, ctrace), (hi, hout, htrace) = results
    loc = next(i for i, where in res.locations.items() if where == f"{src}:9:5")
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", rt.PANIC_EXIT_CODE)
    assert scratch_writes(ctrace) == scratch_writes(htrace) == [
        (SYSCTL.addr("SCRATCH0"), rt.PANIC_BOUNDS), (SYSCTL.addr("SCRATCH1"), loc)]
    assert cout == hout == b"AB"
