"""Generated register files: committed copies match the source, the C header compiles, the JSON round-trips."""

import json
import shutil
import subprocess

import pytest

from asic_model import regmap_export
from asic_model.soc_map import CONSTANTS, SOC


def test_committed_exports_do_not_drift():
    assert regmap_export.generate(check=True) == []


def test_check_reports_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "regs.h"
    stale.write_text("/* old */\n")
    monkeypatch.setitem(regmap_export.OUTPUTS, "c", stale)
    assert regmap_export.generate(check=True) == [stale]


def test_json_describes_every_register():
    doc = json.loads(regmap_export.json_description())
    blocks = {b["name"]: b for b in doc["blocks"]}
    assert list(blocks) == [b.name for b in SOC]
    tensor = {r["name"]: r for r in blocks["TENSOR"]["registers"]}
    assert tensor["CTRL"]["fields"][0] == {"name": "START", "hi": 0, "lo": 0, "doc": "start (self-clearing)"}
    assert {c["name"]: c["value"] for c in doc["constants"]}["IRQ_TENSOR"] == CONSTANTS["IRQ_TENSOR"].value


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_c_header_compiles_and_agrees(tmp_path):
    (tmp_path / "tessera_regs.h").write_text(regmap_export.c_header())
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "tessera_regs.h"
_Static_assert(TENSOR_CTRL == TENSOR_BASE + TENSOR_CTRL_OFFSET, "address");
int main(void) {
    printf("%u %u %u %u\\n", (unsigned)DMA_CH1_CTRL, (unsigned)TESSERA_FIELD_GET(TENSOR, STATUS, ERR_CODE, 0x0502u),
           (unsigned)TESSERA_FIELD_PREP(TENSOR, CTRL, RAW32, 1), (unsigned)TESSERA_ERR_QPARAM);
    return 0;
}
""")
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "t"), str(tmp_path / "main.c")],
                   check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "t")], check=True, capture_output=True, text=True).stdout.split()
    dma = SOC.block("DMA")
    assert out == [str(dma.addr("CH1_CTRL")), "5", "8", str(CONSTANTS["ERR_QPARAM"].value)]


def test_c_header_compiles_for_the_rv32_firmware_target(tmp_path):
    (tmp_path / "tessera_regs.h").write_text(regmap_export.c_header())
    (tmp_path / "fw.c").write_text('#include "tessera_regs.h"\n'
                                   "uint32_t status(void) { return TESSERA_REG_READ(TENSOR, STATUS) & TENSOR_STATUS_DONE_MASK; }\n")
    import sys
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "riscv32-freestanding-none",
                    "-mcpu=generic_rv32+m+c", "-ffreestanding", "-std=c11", "-Wall", "-Wextra", "-Werror", "-c",
                    str(tmp_path / "fw.c"), "-o", str(tmp_path / "fw.o")], check=True, capture_output=True)
    assert (tmp_path / "fw.o").stat().st_size > 0


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_vector_block_is_exported_to_c_and_firmware(tmp_path):
    """Firmware reaches the vector unit by name: the C header's VECTOR_* macros and VU_OP_* constants,
    and the same names in firmware.regs (what the constrained-Python firmware compiles against)."""
    (tmp_path / "tessera_regs.h").write_text(regmap_export.c_header())
    (tmp_path / "main.c").write_text("""
#include <stdio.h>
#include "tessera_regs.h"
int main(void) {
    printf("%u %u %u %u %u\\n", (unsigned)VECTOR_OP, (unsigned)VECTOR_DIFF_MIN, (unsigned)TESSERA_VU_OP_SOFTMAX,
           (unsigned)TESSERA_IRQ_VECTOR, (unsigned)TESSERA_FIELD_PREP(VECTOR, CTRL, ABORT, 1));
    return 0;
}
""")
    subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "t"), str(tmp_path / "main.c")],
                   check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "t")], check=True, capture_output=True, text=True).stdout.split()
    vec = SOC.block("VECTOR")
    assert out == [str(vec.addr("OP")), str(vec.addr("DIFF_MIN")), "5", "9", "4"]
    from firmware import regs
    assert (regs.VECTOR.OP.addr, regs.VECTOR.OP.c_name, regs.VU_OP_FILL, regs.IRQ_VECTOR) == (
        vec.addr("OP"), "VECTOR_OP", CONSTANTS["VU_OP_FILL"].value, CONSTANTS["IRQ_VECTOR"].value)
    assert regs.VECTOR.CTRL.START.mask == 1 and regs.VECTOR.ACT_MAX.VALUE.mask == 0xFF
