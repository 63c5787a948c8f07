"""The emulator's fault-injection control (emulator/control.py): option parsing, seeded line faults, the control socket.

Usage: .venv/bin/pytest tests/hil/test_control.py
"""

from __future__ import annotations

import subprocess

import pytest

from emulator.control import ControlError, LineFaults, parse_line_faults
from tessera.hil.launch import REPO, LaunchError, tessera_cmd


def test_line_fault_spec_parses_and_rejects_with_exact_messages():
    assert parse_line_faults("flip=1e-3,drop=0.5,seed=7") == {"flip": 1e-3, "drop": 0.5, "seed": 7}
    assert parse_line_faults("") is None and parse_line_faults(None) is None
    with pytest.raises(ControlError, match=r"^--line-faults flip: expected KEY=VALUE items \(flip, drop, seed\), got 'flip'$"):
        parse_line_faults("flip")
    with pytest.raises(ControlError, match=r"^line faults: unknown key 'rate'; use flip, drop, seed$"):
        parse_line_faults("rate=0.1")
    with pytest.raises(ControlError, match=r"^line faults: flip=2.0 is not a probability in 0..1$"):
        parse_line_faults({"flip": 2})


def test_line_faults_are_seeded_and_counted_per_direction():
    data = bytes(range(256)) * 8
    a, b = LineFaults(0.01, 0.01, 5), LineFaults(0.01, 0.01, 5)
    out_a, out_b = a.apply(data, "rx"), b.apply(data, "rx")
    assert out_a == out_b and out_a != data
    c = a.counts["rx"]
    assert c["bytes"] == len(data) and len(out_a) == len(data) - c["dropped"] and c["flipped"] > 0
    assert a.counts["tx"] == {"bytes": 0, "flipped": 0, "dropped": 0}
    assert LineFaults(0, 0, 1).apply(data, "tx") == data


@pytest.mark.emu_only
def test_bad_line_fault_option_is_a_usage_error(hil_firmware):
    r = subprocess.run(tessera_cmd("emu", "run", "--firmware", hil_firmware, "--line-faults", "flip=x"), cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 64
    assert "tessera emu run: line faults: could not convert string to float: 'x'" in r.stderr


@pytest.mark.emu_only
def test_control_socket_answers_errors_without_disturbing_the_device(hil_device, hil_client):
    with pytest.raises(LaunchError, match=r"unknown command \{\"inject\": \"meteor\"\}"):
        hil_device.control({"inject": "meteor"})
    with pytest.raises(LaunchError, match=r"dma_channel_error: channel 9 is not in 0..3"):
        hil_device.control({"inject": "dma", "channel": 9})
    status = hil_device.control({"status": True})
    assert status["ok"] and status["cycles"] > 0 and status["line"] is None
    assert hil_client.ping()["ok"] is True
