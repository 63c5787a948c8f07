"""Device-firmware facts checked without the serial line: constants that mirror the register map, the boot
self-test's expected table against the native reference, and the image's size report (no heap)."""

from __future__ import annotations

import numpy as np

from asic_model.soc_map import region
from firmware.toolchain.hosted import load_module
from native.reference import reference_gemm_i8

from tests.firmware.device.conftest import DEVICE_MAIN


def _modules():
    return load_module(DEVICE_MAIN).__tessera_modules__


def test_sram_base_matches_the_memory_map():
    assert _modules()["hw"].SRAM_BASE == region("SRAM").base


def test_selftest_expected_table_is_the_tensor_core_result():
    st = _modules()["selftest"]
    m, n, k = st.ST_M, st.ST_N, st.ST_K
    a = np.array([st.st_a(i) for i in range(m * k)], np.int8).reshape(m, k)
    b = np.array([st.st_b(i) for i in range(k * n)], np.int8).reshape(k, n)
    bias = np.array([st.ST_BIAS0 + j * st.ST_BIAS_STEP for j in range(n)], np.int32)
    mult = np.array([st.ST_MULT0 + j * st.ST_MULT_STEP for j in range(n)], np.int32)
    shift = np.array([st.ST_SHIFT0 + j for j in range(n)], np.int32)
    ref = reference_gemm_i8(a, b, bias=bias, mult=mult, shift=shift, zp_out=st.ST_ZP, relu=False)
    assert np.array_equal(np.array(st.ST_EXPECT.tolist(), np.int8).reshape(m, n), ref)
    assert len(set(st.ST_EXPECT.tolist())) > 4          # a vector that exercises the arithmetic


def test_image_has_no_heap_and_reports_sizes(firmware_elf):
    from firmware.toolchain.report import check_no_heap, size_report
    check_no_heap(firmware_elf)
    sizes = size_report(firmware_elf)
    assert sizes["text"] > 0 and sizes["bss"] > 0


def test_every_fault_code_is_in_the_protocol_doc():
    """docs/protocol.md's EVT_FAULT table lists each FAULT_* of firmware/protocol_v1.py with its code, and the
    device reports panics with FAULT_PANIC (not TRAP)."""
    from firmware import protocol_v1 as P
    doc = (DEVICE_MAIN.parents[2] / "docs" / "protocol.md").read_text()
    faults = {k[len("FAULT_"):]: v for k, v in vars(P).items() if k.startswith("FAULT_")}
    assert faults["PANIC"] not in {v for k, v in faults.items() if k != "PANIC"}
    for name, code in faults.items():
        assert f"| {name} | {code} |" in doc, name
    main_src = DEVICE_MAIN.read_text()
    assert main_src.count("fault_payload(FAULT_PANIC,") == 2 and "FAULT_TRAP" not in main_src
