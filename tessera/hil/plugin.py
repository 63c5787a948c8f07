"""pytest plugin for the hardware-in-the-loop suite: one target option, device and daemon fixtures, a fault report.

`--hil-target=emu[:PROFILE]` (default emu:edge-v1, or $TESSERA_HIL_TARGET) boots
the device firmware in `tessera emu run` on a pty, with a control socket for
fault injection; `--hil-target=serial:URL` uses a board on a serial port (any
pyserial URL). The same tests run against both; tests that need the emulator's
fault injection or must kill the device process skip on a board. Under
pytest-xdist each worker has its own emulator, daemon, sockets and journal (all
in the worker's tmp dirs; no TCP ports).

Fixtures:
    hil_target       Target(kind, profile, url)
    hil_firmware     path of build/firmware.elf, (re)built once if stale (file lock across workers)
    hil_device       DeviceSession shared by a worker's tests (url, control(), kill9(), relaunch())
    hil_daemon       DaemonProcess on hil_device, shared by a worker's tests
    hil_client       hostd Client of hil_daemon
    fresh_device / fresh_daemon   private ones for a test that kills processes
    fault_report     records a fault-suite report (printed in the terminal summary, also under xdist)

`--hil-snapshot-on-fail` (on by default when $CI is set, or with
$TESSERA_HIL_SNAPSHOT_ON_FAIL=1): when a test that uses an emulated device
fails, the device's whole session is saved through its control socket to
build/hil/snapshots/<test>.tsnap and the path is named in the failure report
(section "HIL device snapshot"); `tessera emu run --restore PATH` continues it.

Usage (tests/hil/conftest.py imports this module; see there for why not `pytest_plugins`):
    pytest tests/hil                                   # emulator, edge-v1
    pytest tests/hil --hil-target=emu:tiny -n 2
    pytest tests/hil --hil-target=serial:/dev/ttyUSB0
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tessera.hil.launch import REPO, DaemonProcess, EmulatorProcess

DEFAULT_TARGET = "emu:edge-v1"
ENV_TARGET = "TESSERA_HIL_TARGET"
DEFAULT_LINE_FAULT_RATE = 3e-3     # per byte, flips and drops each: about 1 in 3 of a digits job's frames hit
REPORT_PROPERTY = "hil_fault_report"
REPORT_FILE = REPO / "build" / "hil" / "fault-report.jsonl"
SNAPSHOT_DIR = REPO / "build" / "hil" / "snapshots"
ENV_SNAPSHOT = "TESSERA_HIL_SNAPSHOT_ON_FAIL"
DEVICE_FIXTURES = ("fresh_device", "hil_device")


@dataclass(frozen=True)
class Target:
    kind: str                  # "emu" or "serial"
    profile: str | None = None
    url: str | None = None

    @property
    def emulated(self) -> bool:
        return self.kind == "emu"

    def describe(self) -> str:
        return f"emulator ({self.profile or 'default profile'})" if self.emulated else f"board on {self.url}"


def parse_target(spec: str) -> Target:
    kind, _, rest = spec.partition(":")
    if kind == "emu":
        return Target("emu", rest or None)
    if kind == "serial" and rest:
        return Target("serial", url=rest)
    raise pytest.UsageError(f"--hil-target={spec}: expected emu[:PROFILE] or serial:URL (e.g. serial:/dev/ttyUSB0)")


def pytest_addoption(parser):
    g = parser.getgroup("hil", "hardware-in-the-loop suite (tests/hil)")
    g.addoption("--hil-target", default=None, help=f"emu[:PROFILE] or serial:URL (default ${ENV_TARGET} or {DEFAULT_TARGET})")
    g.addoption("--hil-firmware", default=None, help="firmware ELF for emu targets (default: build/firmware.elf, rebuilt if stale)")
    g.addoption("--hil-line-fault-rate", type=float, default=None,
                help=f"per-byte flip and drop probability of the line-fault test (default {DEFAULT_LINE_FAULT_RATE})")
    g.addoption("--hil-snapshot-on-fail", action="store_true", default=None,
                help=f"save the emulated device's session for every failed test (default: on when $CI or ${ENV_SNAPSHOT} is set)")


def _opt(config, name: str):
    try:
        return config.getoption(name)
    except ValueError:                   # options of a conftest loaded after the command line was parsed
        return None


def pytest_configure(config):
    config.addinivalue_line("markers", "hil: hardware-in-the-loop test (runs against --hil-target)")
    config.addinivalue_line("markers", "emu_only: needs the emulator (fault injection or killing the device process)")


def pytest_collection_modifyitems(config, items):
    here = REPO / "tests" / "hil"
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.hil)


def pytest_runtest_setup(item):
    if item.get_closest_marker("emu_only") and not hil_target_of(item.config).emulated:
        pytest.skip("needs the emulator target (fault injection / killing the device process)")


def snapshot_on_fail(config) -> bool:
    return bool(_opt(config, "hil_snapshot_on_fail") or os.environ.get(ENV_SNAPSHOT) == "1" or os.environ.get("CI"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's emulated device is saved to a snapshot, named in the failure report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when == "teardown" or not snapshot_on_fail(item.config):
        return
    for name in DEVICE_FIXTURES:
        dev = getattr(item, "funcargs", {}).get(name)
        if isinstance(dev, DeviceSession) and dev.emu is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.nodeid)
            path = SNAPSHOT_DIR / f"{safe}.tsnap"
            SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
            try:
                info = dev.control({"snapshot": str(path)})
                text = (f"device snapshot: {path} ({info['bytes']} bytes at cycle {info['cycles']}); "
                        f"continue it with: tessera emu run --firmware {dev.emu.firmware}"
                        f"{' --profile ' + dev.emu.profile if dev.emu.profile else ''} --restore {path}")
            except Exception as exc:   # the device may be dead (that may be why the test failed)
                text = f"no device snapshot: {exc}"
            report.sections.append(("HIL device snapshot", text))
            return


def hil_target_of(config) -> Target:
    return parse_target(_opt(config, "hil_target") or os.environ.get(ENV_TARGET) or DEFAULT_TARGET)


def line_fault_rate(config) -> float:
    return _opt(config, "hil_line_fault_rate") or DEFAULT_LINE_FAULT_RATE


# ---------------------------------------------------------------- device sessions
class DeviceSession:
    """The device under test: an emulator process (with control socket) or a board's serial URL."""

    def __init__(self, target: Target, workdir: Path, firmware: str | None):
        self.target = target
        self.emu = EmulatorProcess(firmware, workdir, profile=target.profile) if target.emulated else None
        self.url = self.emu.url if self.emu else target.url

    def start(self) -> "DeviceSession":
        if self.emu:
            self.emu.start()
        return self

    def control(self, command: dict) -> dict:
        if not self.emu:
            pytest.skip("fault injection needs the emulator target")
        return self.emu.control(command)

    def kill9(self) -> None:
        if not self.emu:
            pytest.skip("killing the device process needs the emulator target")
        self.emu.kill9()

    def relaunch(self) -> None:
        self.emu.start()

    def stop(self) -> None:
        if self.emu:
            self.emu.stop()


@pytest.fixture(scope="session")
def hil_target(pytestconfig) -> Target:
    return hil_target_of(pytestconfig)


@pytest.fixture(scope="session")
def hil_firmware(pytestconfig, hil_target, tmp_path_factory) -> str | None:
    if not hil_target.emulated:
        return None
    given = _opt(pytestconfig, "hil_firmware")
    if given:
        return given
    from tessera.main_job import FIRMWARE_ELF, ensure_firmware
    ensure_firmware()                                   # file-locked: one build across xdist workers
    return str(FIRMWARE_ELF)


@pytest.fixture(scope="session")
def hil_device(hil_target, hil_firmware, tmp_path_factory):
    dev = DeviceSession(hil_target, tmp_path_factory.mktemp("device"), hil_firmware).start()
    yield dev
    dev.stop()


@pytest.fixture(scope="session")
def hil_daemon(hil_device, tmp_path_factory):
    dmn = DaemonProcess(hil_device.url, tmp_path_factory.mktemp("hostd"), link_timeout=0.5, job_timeout=5.0,
                        max_attempts=4).start()
    yield dmn
    dmn.stop()


@pytest.fixture
def hil_client(hil_daemon):
    c = hil_daemon.client()
    yield c
    c.close()


@pytest.fixture
def fresh_device(hil_target, hil_firmware, tmp_path):
    dev = DeviceSession(hil_target, tmp_path / "device", hil_firmware).start()
    yield dev
    dev.stop()


@pytest.fixture
def fresh_daemon(fresh_device, tmp_path):
    dmn = DaemonProcess(fresh_device.url, tmp_path / "hostd", link_timeout=0.5, job_timeout=5.0,
                        max_attempts=4).start()
    yield dmn
    dmn.stop()


# ---------------------------------------------------------------- workloads on a daemon
def load_workload(client, workload, max_rows: int = 1):
    """Register a workload's QDQ model with a daemon; returns (model hash, CompiledModel)."""
    from compiler.model_compiler import compile_model
    h = client.load(workload.onnx_bytes, name=workload.name, max_rows=max_rows)["model"]
    cm = compile_model(workload.qmodel, max_rows=max_rows)
    assert cm.hash.hex() == h, "the daemon and the host compiler disagree on the model image"
    return h, cm


@pytest.fixture(scope="session")
def digits():
    from tessera.hil.workloads import digits_workload
    return digits_workload()


# ---------------------------------------------------------------- fault reports
@pytest.fixture
def fault_report(request):
    """Call with a report dict; it is printed now (-s) and in the terminal summary."""
    def record(report: dict) -> None:
        request.node.user_properties.append((REPORT_PROPERTY, json.dumps(report)))
        print("\n" + format_report(report))
        REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(REPORT_FILE, "a") as f:                  # one short line per append: safe across workers
            f.write(json.dumps(dict(report, test=request.node.nodeid)) + "\n")
    return record


def format_report(r: dict) -> str:
    extra = "  ".join(f"{k}={v}" for k, v in r.get("detail", {}).items())
    return (f"{r['scenario']:<28} submitted {r['submitted']:>3}  completed {r['completed']:>3}  lost {r['lost']}  "
            f"duplicated {r['duplicated']}  retried {r.get('retried', 0):>2}  {extra}")


_reports: list[dict] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        for name, value in getattr(report, "user_properties", ()):
            if name == REPORT_PROPERTY:
                _reports.append(json.loads(value))


def pytest_terminal_summary(terminalreporter):
    if _reports:
        terminalreporter.section("HIL fault-injection report")
        for r in sorted(_reports, key=lambda r: r["scenario"]):
            terminalreporter.write_line(format_report(r))
