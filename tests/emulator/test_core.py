"""The Unicorn core on real compiled firmware: boot, interrupts, WFI, watchdog, traps, determinism, accelerator."""

from __future__ import annotations

import json
import re

from asic_model.soc_map import CONSTANTS
from emulator.session import Session
from emulator.devices.uart import BITS_PER_BYTE


def _fields(text: str) -> dict[str, int]:
    return {k: int(v, 16) for k, v in re.findall(r"(\w+)=([0-9a-f]{8})", text)}


def test_boot_and_print(fw):
    with Session(firmware=fw["hello"]) as s:
        info = s.run(max_cycles=5_000_000)
        out = s.uart_output()
    assert (info.reason, info.code) == ("poweroff", 7)
    assert out == b"hello from tessera id=54455353 boot=00000000 clk=05f5e100\n"
    # the UART is the bottleneck: every byte takes BITS_PER_BYTE/BAUD of virtual time
    byte_cycles = -(-BITS_PER_BYTE * 100_000_000 // CONSTANTS["UART_DEFAULT_BAUD"].value)
    assert len(out) * byte_cycles <= info.cycles < len(out) * byte_cycles + 5_000


def test_timer_interrupt_entry_and_return(fw):
    with Session(firmware=fw["timer"]) as s:
        info = s.run(max_cycles=10_000_000)
        f = _fields(s.uart_output().decode())
    assert (info.reason, info.code) == ("poweroff", 3)
    assert f["cause"] == 0x8000_0007
    assert f["mstatus"] & 0x1888 == 0x1880          # in the handler: MPP=M, MPIE=1 (MIE was on), MIE=0
    assert f["mstatus_after"] & 0x8 == 0            # main cleared MIE itself after mret restored it
    times = [int(t, 16) for t in re.findall(r" t=([0-9a-f]{8})", s.uart_output().decode())]
    assert len(times) == 3
    assert [b - a for a, b in zip(times, times[1:])] == [100_000, 100_000]   # exact virtual time per tick
    assert 0 < times[0] - (f["start"] + 100_000) < 100                        # taken right at MTIMECMP


def test_mret_performed_as_on_an_m_only_hart_and_counted_once(fw):
    """The emulator performs mret itself (MPP stays M, so trap entry never changes MPP: no QEMU TLB flush).

    Against Unicorn's own mret (mret sites cleared): the same cycles and tick times, so the emulated
    mret counts exactly one instruction; only MPP after mret differs (Unicorn sets U, #2391)."""
    runs = []
    for native in (False, True):
        with Session(firmware=fw["timer"]) as s:
            if native:
                s.core.ic.mret_bitmap[:] = 0
            info = s.run(max_cycles=10_000_000)
            runs.append((info, _fields(s.uart_output().decode()), s.core.ic.s.mrets))
    (emu, f_emu, mrets), (nat, f_nat, native_mrets) = runs
    assert (mrets, native_mrets) == (3, 0)                        # one mret per timer tick, all emulated
    assert (emu.reason, emu.code, emu.cycles) == (nat.reason, nat.code, nat.cycles)
    assert {k: v for k, v in f_emu.items() if k != "mstatus_after"} == \
           {k: v for k, v in f_nat.items() if k != "mstatus_after"}
    assert f_emu["mstatus_after"] & 0x1888 == 0x1880               # after mret: MPP=M, MPIE=1; main cleared MIE
    assert f_nat["mstatus_after"] & 0x1800 == 0                    # Unicorn's mret: MPP=U


def test_wfi_fast_forwards_virtual_time(fw):
    """Three 100k-cycle ticks slept in WFI: ~1.3M cycles of virtual time but only a few thousand instructions."""
    with Session(firmware=fw["timer"]) as s:
        executed = []
        orig = s.core._slice
        s.core._slice = lambda n: (executed.append(n), orig(n))[1]
        info = s.run(max_cycles=10_000_000)
    assert info.reason == "poweroff" and info.cycles > 300_000
    assert len(executed) < 200


def test_watchdog_reset(fw):
    with Session(firmware=fw["watchdog"]) as s:
        info = s.run(max_cycles=5_000_000)
        out = s.uart_output().decode()
        f = _fields("boot=" + out.split("boot=", 1)[1])
        assert s.soc.sysctl.get("BOOT_COUNT") == 1
    assert out.startswith("ar")   # "arming" was cut short by the reset (the UART FIFO resets too)
    assert (info.reason, info.code) == ("poweroff", 0x42)
    assert f == {"boot": 1, "cause": CONSTANTS["RESET_WATCHDOG"].value, "scratch0": 0xC0FFEE00, "warnings": 1}


def test_traps_delivered_then_fatal_dump(fw):
    with Session(firmware=fw["traps"]) as s:
        info = s.run(max_cycles=5_000_000)
        lines = s.uart_output().decode().splitlines()
    causes = [_fields(line) for line in lines if line.startswith("trap")]
    assert [c["cause"] for c in causes] == [2, 11, 5]      # illegal, ecall from M, load access fault
    assert causes[0]["mtval"] == 0xFFFF_FFFF and causes[2]["mtval"] == 0x7000_0000
    assert lines[-1] == "fatal next"
    assert info.reason == "fault"
    assert info.message.startswith(f"illegal instruction (mcause 2) at pc 0x{info.pc:08x}, mtval 0xffffffff, no trap vector (mtvec = 0)")
    assert info.registers["s2"] == 0x5EED and "s2=0x00005eed" in info.message


def test_ebreak_ends_session(fw):
    with Session(firmware=fw["ebreak"]) as s:
        info = s.run(max_cycles=5_000_000)
        assert s.uart_output() == b"before ebreak\n"
    assert info.reason == "ebreak" and info.message.startswith(f"ebreak at pc 0x{info.pc:08x}")


def test_echo_in_memory(fw):
    with Session(firmware=fw["echo"]) as s:
        s.feed(b"hello\n")
        info = s.run(max_cycles=5_000_000)
        assert info.reason == "limit"          # waiting in WFI for more input
        s.feed(b"xq")
        info = s.run(max_cycles=5_000_000)
        assert s.uart_output() == b"echo ready\nhello\nx"
    assert (info.reason, info.code) == ("poweroff", 0)


def test_bus_tracer_sees_mmio_only(fw):
    seen = []
    with Session(firmware=fw["dma_tensor"]) as s:
        s.bus.tracer = lambda kind, addr, size, value: seen.append((kind, addr))
        info = s.run(max_cycles=20_000_000)
    assert (info.reason, info.code) == ("poweroff", 0)
    assert seen and all(0x1000_0000 <= a < 0x1100_0000 for _, a in seen)


def test_dma_and_tensor_core_through_registers(fw, tmp_path):
    trace = tmp_path / "run.json"
    with Session(firmware=fw["dma_tensor"], trace=trace) as s:
        info = s.run(max_cycles=20_000_000)
        out = s.uart_output()
    assert (info.reason, info.code) == ("poweroff", 0) and out == b"macs=00000400 OK\n"
    events = json.loads(trace.read_text())["traceEvents"]
    cats = {e.get("cat") for e in events}
    assert {"dma", "tensor", "irq", "uart"} <= cats
    assert all(e["ph"] in ("X", "i", "M") for e in events)


def _run_for_determinism(fw, tmp_path, tag):
    trace = tmp_path / f"{tag}.json"
    with Session(firmware=fw["dma_tensor"], trace=trace) as s:
        info = s.run(max_cycles=20_000_000)
        counters = s.soc.accel.counters()
    return info.cycles, counters, trace.read_text()


def test_determinism(fw, tmp_path):
    assert _run_for_determinism(fw, tmp_path, "a") == _run_for_determinism(fw, tmp_path, "b")


def test_vector_unit_through_registers_and_its_interrupt(fw, tmp_path):
    """FILL then MAXPOOL on the emulated SoC, each completion an IRQ_VECTOR; the core checks the bytes.
    VU_BUSY: FILL of 48 bytes on edge-v1's 32 lanes = 4 + 2 cycles; MAXPOOL 2x2x8 with 4 taps per pixel = 4 + 16."""
    trace = tmp_path / "run.json"
    with Session(firmware=fw["vector_irq"], trace=trace) as s:
        info = s.run(max_cycles=20_000_000)
        out = s.uart_output()
        profile = s.soc.accel.profile.name
    assert (info.reason, info.code) == ("poweroff", 0), out
    assert profile == "edge-v1" and out == b"vu_busy=0000001a OK\n"
    cats = {e.get("cat") for e in json.loads(trace.read_text())["traceEvents"]}
    assert {"vector", "irq"} <= cats
