"""`--hil-snapshot-on-fail`: a failing HIL test leaves a snapshot of its emulated device, named in the failure
report, that `tessera emu run --restore` continues."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.bringup.conftest import REPO, tessera

CONFTEST = (REPO / "tests" / "hil" / "conftest.py").read_text()
FAILING_TEST = '''
def test_device_answers_wrongly(fresh_device):
    assert fresh_device.url == "not this"


def test_passing_test_leaves_nothing(fresh_device):
    assert fresh_device.url
'''


def test_failed_test_leaves_a_snapshot_named_in_its_report(device_elf, tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(FAILING_TEST)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
                        "--rootdir", str(tmp_path), "--hil-snapshot-on-fail", "--hil-target=emu:tiny",
                        f"--hil-firmware={device_elf}", str(tmp_path / "test_inner.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "1 failed, 1 passed" in r.stdout, r.stdout + r.stderr
    assert "HIL device snapshot" in r.stdout
    found = re.findall(r"device snapshot: (\S+\.tsnap) \((\d+) bytes at cycle (\d+)\)", r.stdout)
    assert len(found) == 1, r.stdout
    path, size, cycles = found[0]
    assert "test_device_answers_wrongly" in path
    with open(path, "rb") as f:
        assert len(f.read()) == int(size)
    cont = tessera("emu", "run", "--firmware", device_elf, "--profile", "tiny", "--restore", path, "--serial", f"file:{tmp_path / 'out.txt'}",
                   "--max-cycles", "1000")
    assert cont.returncode == 75, cont.stderr
    assert f"cycles={int(cycles) + 1000}" in cont.stderr
