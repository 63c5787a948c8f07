"""The hosted backend: constrained-Python firmware on the same SoC devices, interrupts and bus."""

from __future__ import annotations

from emulator.session import Session


def _run(hosted_fw, feed=b""):
    seen = []
    with Session(firmware=hosted_fw, hosted=True) as s:
        s.bus.tracer = lambda kind, addr, size, value: seen.append((kind, addr, value))
        s.feed(feed)
        info = s.run(max_cycles=5_000_000)
        return info, s.uart_output(), seen


def test_hosted_timer_interrupts_and_uart(hosted_fw):
    info, out, seen = _run(hosted_fw, b"xyz")
    assert (info.reason, info.code) == ("poweroff", 3)
    assert out == b"hixyz"
    assert 150_000 <= info.cycles < 400_000           # three 50k-cycle ticks slept through with wfi
    assert all(0x1000_0000 <= a < 0x1100_0000 for _, a, _ in seen)
    assert ("W", 0x1000_1000, 0x68) in seen            # UART.DATA <- 'h' through the bus


def test_hosted_is_deterministic(hosted_fw):
    a, b = _run(hosted_fw, b"q"), _run(hosted_fw, b"q")
    assert a[0].cycles == b[0].cycles and a[2] == b[2]


def test_hosted_missing_module(tmp_path):
    import pytest
    with pytest.raises(FileNotFoundError, match="no such hosted firmware module"):
        Session(firmware=tmp_path / "none.py", hosted=True)


def test_hosted_run_resumes_after_limit(hosted_fw):
    """run() after a limit continues the firmware where it stopped (no second main()), cycle for cycle."""
    whole, out, _ = _run(hosted_fw, b"xyz")
    with Session(firmware=hosted_fw, hosted=True) as s:
        s.feed(b"xyz")
        limits = 0
        while (info := s.run(max_cycles=20_000)).reason == "limit":
            limits += 1
            assert limits < 100
        assert limits >= 5
        assert (info.reason, info.code, info.cycles) == ("poweroff", 3, whole.cycles)
        assert s.uart_output() == out == b"hixyz"      # a restart would greet twice


def test_hosted_session_closes_while_paused(hosted_fw):
    with Session(firmware=hosted_fw, hosted=True) as s:
        assert s.run(max_cycles=10_000).reason == "limit"
        thread = s.core._thread
    assert not thread.is_alive()
