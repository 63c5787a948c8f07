"""The SoC devices through the bus: UART timing and overrun, TIMER, INTC claim, WDT keys, SYSCTL keys."""

from __future__ import annotations

from asic_model.soc_map import CONSTANTS, INTC, SYSCTL, TIMER, UART, WDT
from emulator.machine import load_machine
from emulator.soc import MIP_MEIP, MIP_MTIP, Soc


def _soc():
    out = []
    soc = Soc(load_machine(), on_tx=out.append)
    return soc, out


def _run_until(soc, t):
    while True:
        ev = soc.next_event()
        if ev is None or soc.clock.now + ev > t:
            break
        soc.advance_to(soc.clock.now + ev)
    soc.advance_to(t)


def test_uart_tx_takes_one_byte_time_per_byte():
    soc, out = _soc()
    byte = soc.uart.byte_cycles()
    assert byte == -(-10 * 100_000_000 // 115_200)
    for b in b"ab":
        soc.bus.write(UART.addr("DATA"), 4, b)
    _run_until(soc, byte - 1)
    assert out == []
    _run_until(soc, byte)
    assert out == [ord("a")]
    _run_until(soc, 2 * byte)
    assert out == [ord("a"), ord("b")] and soc.bus.read(UART.addr("STATUS"), 4) & 4


def test_uart_rx_overrun_and_irq():
    soc, _ = _soc()
    soc.bus.write(UART.addr("IRQ_ENABLE"), 4, 0b101)
    soc.bus.write(INTC.addr("ENABLE"), 4, 1 << CONSTANTS["IRQ_UART"].value)
    soc.uart.host_send(bytes(CONSTANTS["UART_FIFO_DEPTH"].value + 1))
    _run_until(soc, 100 * soc.uart.byte_cycles())
    assert soc.bus.read(UART.addr("RX_LEVEL"), 4) == 64
    assert soc.bus.read(UART.addr("IRQ_STATUS"), 4) & 0b100
    assert soc.mip & MIP_MEIP and soc.bus.read(INTC.addr("CLAIM"), 4) == 1
    soc.bus.write(UART.addr("IRQ_STATUS"), 4, 0b100)
    assert not soc.bus.read(UART.addr("IRQ_STATUS"), 4) & 0b100


def test_timer_mtip_at_mtimecmp():
    soc, _ = _soc()
    soc.bus.write(TIMER.addr("MTIMECMP_HI"), 4, 0)
    soc.bus.write(TIMER.addr("MTIMECMP_LO"), 4, 500)
    assert soc.next_event() == 500 and not soc.mip & MIP_MTIP
    soc.advance_to(500)
    assert soc.mip & MIP_MTIP and soc.bus.read(TIMER.addr("MTIME_LO"), 4) == 500


def test_wdt_disable_needs_key_and_warns_at_half():
    soc, _ = _soc()
    soc.bus.write(WDT.addr("TIMEOUT"), 4, 1000)
    soc.bus.write(WDT.addr("CTRL"), 4, 1)
    soc.bus.write(WDT.addr("CTRL"), 4, 0)                       # no key: ignored
    assert soc.bus.read(WDT.addr("CTRL"), 4) == 1
    _run_until(soc, 500)
    assert soc.bus.read(WDT.addr("STATUS"), 4) == 1 and soc.halt is None
    soc.bus.write(WDT.addr("KICK"), 4, CONSTANTS["WDT_KICK_KEY"].value)
    assert soc.bus.read(WDT.addr("COUNT"), 4) == 1000
    _run_until(soc, 1500)
    assert soc.halt == ("reset", CONSTANTS["RESET_WATCHDOG"].value)


def test_wdt_disable_with_key():
    soc, _ = _soc()
    soc.bus.write(WDT.addr("CTRL"), 4, 1)
    soc.bus.write(WDT.addr("CTRL"), 4, CONSTANTS["WDT_DISABLE_KEY"].value << 16)
    assert soc.bus.read(WDT.addr("CTRL"), 4) == 0 and soc.next_event() is not None  # only TIMER's far compare


def test_sysctl_keys_and_persistence():
    soc, _ = _soc()
    soc.bus.write(SYSCTL.addr("SCRATCH2"), 4, 0x1234)
    soc.bus.write(SYSCTL.addr("RESET"), 4, 0xDEAD)
    soc.bus.write(SYSCTL.addr("POWEROFF"), 4, 0x1234_0005)
    assert soc.halt is None
    soc.bus.write(SYSCTL.addr("RESET"), 4, CONSTANTS["SYSCTL_RESET_KEY"].value)
    assert soc.halt == ("reset", CONSTANTS["RESET_SOFTWARE"].value)
    soc.core_reset(soc.halt[1])
    assert soc.bus.read(SYSCTL.addr("SCRATCH2"), 4) == 0x1234 and soc.bus.read(SYSCTL.addr("BOOT_COUNT"), 4) == 1
    soc.bus.write(SYSCTL.addr("POWEROFF"), 4, (CONSTANTS["SYSCTL_POWEROFF_KEY"].value << 16) | 9)
    assert soc.halt == ("poweroff", 9)
