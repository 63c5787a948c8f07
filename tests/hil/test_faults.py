"""HIL fault injection: line errors, ECC/DMA errors, tensor-core hangs, watchdog resets, kill -9 of daemon and device.

Each scenario submits digits jobs with idempotency keys, injects its fault while
they run, waits for all of them and reports jobs submitted, completed (bit-exact
with compiler/reference_exec), lost and duplicated; lost and duplicated must be 0.
The report is printed (-s), shown in the terminal summary and appended to
build/hil/fault-report.jsonl. Device faults go through the emulator's control
socket (emulator/control.py); these tests skip on a board.
Usage: .venv/bin/pytest tests/hil/test_faults.py -s [--hil-line-fault-rate 0.005]
"""

from __future__ import annotations

import time

import pytest

from tessera.hil.ledger import Ledger
from tessera.hil.plugin import line_fault_rate, load_workload

JOBS = 12
WAIT = 120.0
SEED = 11


def _ledger(daemon, digits, prefix: str, n: int = JOBS) -> Ledger:
    c = daemon.client()
    h, cm = load_workload(c, digits, max_rows=1)
    c.close()
    return Ledger(lambda: daemon.client(timeout=30), h, cm, digits.x_test[:n], prefix)


def _jobs_done(daemon) -> tuple[int, int]:
    c = daemon.client()
    try:
        s = c.stats()
        return s["device"]["jobs_done"], s["boot_count"]
    finally:
        c.close()


def _check(report: dict) -> None:
    assert report["lost"] == 0, report
    assert report["duplicated"] == 0, report
    assert report["completed"] == report["submitted"], report


@pytest.mark.emu_only
def test_line_bit_flips_and_drops_lose_and_duplicate_nothing(pytestconfig, hil_device, hil_daemon, digits,
                                                              fault_report, request):
    rate = line_fault_rate(pytestconfig)
    led = _ledger(hil_daemon, digits, f"line-{request.node.name}-{time.time_ns()}", n=2 * JOBS)
    led.submit_all([0])
    led.wait_all(WAIT)                                 # the model image is uploaded before the line degrades
    done0, boot0 = _jobs_done(hil_daemon)
    hil_device.control({"line_faults": {"flip": rate, "drop": rate, "seed": SEED}})
    try:
        led.submit_all(range(1, 2 * JOBS))
        led.wait_all(WAIT)
        line = hil_device.control({"status": True})["line"]
    finally:
        hil_device.control({"line_faults": None})
    done1, boot1 = _jobs_done(hil_daemon)
    c = hil_daemon.client()
    link = c.stats()["link"]
    c.close()
    report = led.report("UART flips+drops", device_jobs_done=done1 - done0 if boot1 == boot0 else None,
                        rate=rate, flipped=line["rx"]["flipped"] + line["tx"]["flipped"],
                        dropped=line["rx"]["dropped"] + line["tx"]["dropped"],
                        retransmits=link.get("retransmits", 0))
    fault_report(report)
    _check(report)
    assert report["detail"]["flipped"] + report["detail"]["dropped"] > 0      # the faults really happened


@pytest.mark.emu_only
@pytest.mark.parametrize("fault", [{"inject": "ecc"}, {"inject": "dma", "channel": 0}, {"inject": "hang"}],
                         ids=["ecc", "dma", "hang"])
def test_accelerator_fault_fails_one_attempt_and_the_job_is_retried(fresh_device, fresh_daemon, digits, fault,
                                                                     fault_report):
    led = _ledger(fresh_daemon, digits, f"acc-{fault['inject']}", n=4)
    led.submit_all([0])
    led.wait_all(WAIT)                                 # the model is on the device now
    fresh_device.control(fault)
    led.submit_all(range(1, 4))
    led.wait_all(WAIT)
    pending = fresh_device.control({"status": True})["pending"]
    report = led.report(f"accelerator {fault['inject']}", pending=pending)
    fault_report(report)
    _check(report)
    assert pending == {"ecc": [], "ecc_next_read": False, "dma": [], "hang": False}, "the injected fault was never hit"
    assert report["retried"] >= 1                      # one job met the fault and ran again


@pytest.mark.emu_only
def test_watchdog_resets_during_a_stream_of_jobs(fresh_device, fresh_daemon, digits, fault_report):
    """Two watchdog resets land while jobs are queued or running: placed by submission progress, not by wall time."""
    led = _ledger(fresh_daemon, digits, "watchdog")
    boot0 = _jobs_done(fresh_daemon)[1]
    led.submit_all(range(JOBS // 2))
    fresh_device.control({"inject": "watchdog"})       # the first half is queued or running
    led.submit_all(range(JOBS // 2, JOBS))
    fresh_device.control({"inject": "watchdog"})
    led.wait_all(WAIT)
    boots = _jobs_done(fresh_daemon)[1] - boot0
    report = led.report("watchdog resets", resets=boots)
    fault_report(report)
    _check(report)
    assert boots >= 1


@pytest.mark.emu_only
def test_kill9_of_the_daemon_then_relaunch(fresh_device, fresh_daemon, digits, fault_report):
    led = _ledger(fresh_daemon, digits, "kill-daemon")
    led.submit_all()
    fresh_daemon.kill9()                               # jobs queued or running at the kill
    fresh_daemon.start()                               # same journal
    led.resubmit_all()                                 # a client that lost its answers asks again
    led.wait_all(WAIT)
    report = led.report("kill -9 daemon", launches=fresh_daemon.launches)
    fault_report(report)
    _check(report)


@pytest.mark.emu_only
def test_kill9_of_the_emulator_then_relaunch(fresh_device, fresh_daemon, digits, fault_report):
    led = _ledger(fresh_daemon, digits, "kill-emulator")
    led.submit_all(range(JOBS // 2))
    fresh_device.kill9()
    led.submit_all(range(JOBS // 2, JOBS))
    fresh_device.relaunch()                            # a new process, a new pty behind the same device link
    led.wait_all(WAIT)
    report = led.report("kill -9 emulator", launches=fresh_device.emu.launches)
    fault_report(report)
    _check(report)
