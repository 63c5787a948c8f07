"""Complete example programs behave identically hosted and compiled on the real emulator.

Compared: exit reason and code, UART output and the MMIO access trace. The trace
comparison drops UART.STATUS reads, because a TX-full polling loop iterates a
timing-dependent number of times (hosted and compiled cores take different
virtual time); every other access must match in order, address, size and value.
"""

from __future__ import annotations

import binascii

import pytest
from cobs import cobs

from asic_model.soc_map import UART
from firmware.toolchain.build import build
from tests.firmware.conftest import EXAMPLES, run_session

POLL = {UART.addr("STATUS")}


def normalized(trace):
    return [t for t in trace if not (t[0].lower().startswith("r") and t[1] in POLL)]


@pytest.fixture(scope="module", params=["crc32", "cobs", "ring", "timer_counter"])
def both(request, tmp_path_factory):
    src = EXAMPLES / f"{request.param}.py"
    res = build(src, out=tmp_path_factory.mktemp(request.param) / f"{request.param}.elf")
    return request.param, run_session(res.elf, hosted=False), run_session(src, hosted=True)


def test_example_identical_in_both_modes(both):
    name, (ci, cout, ctrace), (hi, hout, htrace) = both
    assert (ci.reason, ci.code) == (hi.reason, hi.code) == ("poweroff", 0)
    assert cout == hout and cout
    assert normalized(ctrace) == normalized(htrace)
    assert len(normalized(ctrace)) >= 4


def test_example_output_is_right(both):
    name, (_, out, _), _ = both
    if name == "crc32":
        data = bytes((i * 7 + 3) & 0xFF for i in range(1024))
        assert int.from_bytes(out, "little") == binascii.crc32(data)
    elif name == "cobs":
        src = bytes(((i * 13 + 1) & 0xFF) if i % 37 != 5 else 0 for i in range(300))
        assert out == cobs.encode(src) + b"\0"
    elif name == "timer_counter":
        assert out == bytes([5])
    else:
        assert out == ring_model()


def ring_model() -> bytes:
    """The ring example's script on a Python deque of capacity 16."""
    from collections import deque
    q, total, dropped = deque(), 0, 0
    for rnd in range(10):
        for k in range(rnd + 3):
            if len(q) == 16:
                dropped += 1
            else:
                q.append((rnd * 31 + k) & 0xFF)
        for k in range(rnd + 1):
            total += q.popleft() if q else 0
    return bytes([total & 0xFF, (total >> 8) & 0xFF, dropped, len(q)])
