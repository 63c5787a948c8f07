"""Register-map language: every declaration error is caught at build time with an exact, located message."""

import re

import pytest

from asic_model.regmap import Block, Field, Reg, RegisterMapError, Reserved, SocMap, repeated
from asic_model.soc_map import CONSTANTS, DMA, PERF, PERF_COUNTER_NAMES, SOC, TENSOR


def _block(*regs, size=0x100, name="B"):
    return Block(name, 0x1000, size, "test block", list(regs))


CASES = [
    (lambda: _block(Reserved(0)), "block B: reserved span at 0x000 has size 0, expected > 0"),
    (lambda: _block("CTRL"), "block B: expected Reg or Reserved, found str"),
    (lambda: _block(Reg("A", "RW", ""), Reg("X", "RW", "", offset=0)),
     "register B.X: offset 0x000 overlaps the register before it; next free offset is 0x004"),
    (lambda: _block(Reg("A", "RW", ""), Reg("X", "RW", "", offset=0x10)),
     "register B.X: offset 0x010 leaves an undeclared gap (declare it with Reserved); next free offset is 0x004"),
    (lambda: _block(Reg("A", "RW", ""), Reg("C", "RW", ""), size=4), "block B: registers end at 0x8, past the block size 0x4"),
    (lambda: _block(Reg("A", "RW", ""), Reg("A", "RO", "")), "register B.A: declared twice"),
    (lambda: _block(Reg("ctrl", "RW", "")), "register B.ctrl: name must be an UPPER_CASE identifier"),
    (lambda: _block(Reg("A", "RX", "")), "register B.A: access 'RX' is not one of RO, RW, W1C, WO"),
    (lambda: _block(Reg("A", "RW", "", width=12)), "register B.A: width 12 is not one of (8, 16, 32)"),
    (lambda: _block(Reg("A", "RW", "", width=8), Reg("W", "RW", "")),
     "register B.W: offset 0x001 is not aligned to its width (4 bytes)"),
    (lambda: _block(Reg("A", "RW", "", width=8, reset=0x100)), "register B.A: reset value 0x100 does not fit in 8 bits"),
    (lambda: _block(Reg("A", "RW", "", fields=[Field("F", 0, 0), Field("F", 1, 1)])), "register B.A: field F declared twice"),
    (lambda: _block(Reg("A", "RW", "", fields=[Field("F", 0, 3)])),
     "register B.A: field F bits [0:3] are reversed or negative; write Field(name, hi, lo) with hi >= lo >= 0"),
    (lambda: _block(Reg("A", "RW", "", fields=[Field("F", 32, 31)])),
     "register B.A: field F bits [32:31] lie past the register width (32 bits)"),
    (lambda: _block(Reg("A", "RW", "", width=16, fields=[Field("F", 16, 16)])),
     "register B.A: field F bits [16:16] lie past the register width (16 bits)"),
    (lambda: _block(Reg("A", "RW", "", fields=[Field("F", 3, 0), Field("G", 4, 2)])),
     "register B.A: field G bits [4:2] overlap field F"),
    (lambda: _block(Reg("A", "RW", "", fields=[Field("F", 1, 0, enum=(("BIG", 4),))])),
     "register B.A: field F bits [1:0]: enum value BIG=4 does not fit"),
    (lambda: repeated("CH", 2, [Reg("X", "RW", ""), Reg("Y", "RW", "")], stride=4),
     "repeated CH: stride 0x4 is smaller than one instance (0x8 bytes)"),
    (lambda: SocMap((_block(Reg("A", "RW", ""), name="A", size=0x1000),
                     Block("B", 0x1800, 0x100, "", [Reg("A", "RW", "")]))),
     "block B at 0x00001800 overlaps block A (0x00001000..0x00001fff)"),
    (lambda: SocMap((_block(name="A"), Block("A", 0x9000, 0x100, "", []))), "block A: declared twice"),
]


@pytest.mark.parametrize("build,message", CASES, ids=[m[:60] for _, m in CASES])
def test_declaration_error_message(build, message):
    with pytest.raises(RegisterMapError, match=f"^{re.escape(message)}$"):
        build()


def test_valid_block_places_registers_and_reserved_holes():
    b = _block(Reg("A", "RW", "", fields=[Field("EN", 0, 0), Field("MODE", 7, 4)]), Reserved(8), Reg("C", "W1C", "", offset=0xC))
    assert [(r.name, r.offset) for r in b] == [("A", 0), ("C", 0xC)]
    assert b.addr("C") == 0x100C and b.at(0xC).name == "C" and b.at(4) is None
    f = b.reg("A").field("MODE")
    assert (f.mask, f.extract(0xA5), f.insert(0xFF, 3)) == (0xF0, 0xA, 0x3F)
    with pytest.raises(KeyError, match="block B has no register 'Z'"):
        b.reg("Z")


def test_repeated_numbers_instances_and_pads_to_stride():
    regs = repeated("CH", 2, [Reg("SRC", "RW", "channel {n} source")], stride=0x10)
    b = _block(*regs)
    assert [(r.name, r.offset, r.doc) for r in b] == [("CH0_SRC", 0, "channel 0 source"), ("CH1_SRC", 0x10, "channel 1 source")]


def test_soc_map_accelerator_blocks():
    assert [b.name for b in SOC] == ["SYSCTL", "UART", "TIMER", "INTC", "WDT", "ACCEL", "DMA", "TENSOR", "PERF", "VECTOR"]
    n = CONSTANTS["DMA_MAX_CHANNELS"].value
    assert DMA.reg(f"CH{n - 1}_STATUS").offset == (n - 1) * 0x40 + 8 * 4
    assert TENSOR.reg("STATUS").field("ERR_CODE").mask == 0xFF00
    assert [PERF.reg(f"{c}_LO").offset for c in PERF_COUNTER_NAMES] == list(range(4, 4 + 8 * len(PERF_COUNTER_NAMES), 8))
    codes = [c.value for name, c in CONSTANTS.items() if name.startswith("ERR_")]
    assert len(codes) == len(set(codes))
