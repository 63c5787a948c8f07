"""Machine descriptions: the default machine, and every bad description's exact error."""

from __future__ import annotations

import pytest

from asic_model.soc_map import region
from emulator.machine import MachineError, load_machine


def test_default_machine_regions():
    m = load_machine()
    assert m.profile == "edge-v1" and m.core_clock_hz == 100_000_000
    assert m.regions["FLASH"] == (0, 0x10_0000)
    assert m.regions["RAM"] == (region("RAM").base, 0x4_0000)
    assert m.regions["SRAM"][0] == region("SRAM").base and m.regions["DRAM"][0] == region("DRAM").base
    assert "UART" in m.mmio_windows and "DMA" in m.mmio_windows


def test_profile_override_changes_sram():
    assert load_machine(profile="edge-v2").regions["SRAM"][1] != load_machine(profile="tiny").regions["SRAM"][1]


GOOD = '[machine]\ncore_clock_hz = 1000000\n[memory]\nflash_size = 0x1000\nram_size = 0x1000\n'


@pytest.mark.parametrize("text, message", [
    ("[machine\n", "not valid TOML: "),
    ("[cpu]\nx = 1\n", "unknown table [cpu]; expected [machine], [memory], [mmio]"),
    (GOOD + "[mmio]\nwindows = ['UART', 'SYSCTL', 'GPIO']\n", "[mmio] windows[2]: unknown block 'GPIO'; expected one of SYSCTL, UART, TIMER, INTC, WDT"),
    (GOOD + "[mmio]\nwindows = ['UART']\n", "[mmio] windows: SYSCTL is required (the session talks through it)"),
    (GOOD + "[mmio]\nwindows = ['UART', 'SYSCTL', 'DMA']\n", "[mmio] windows[2]: DMA belongs to the accelerator; set [machine] accelerator = true instead"),
    (GOOD.replace("ram_size = 0x1000", "ram_size = 0x1234"), "[memory] ram_size: expected a multiple of 0x1000 in 0x1000..0x100000 (RAM window), found 0x1234"),
    (GOOD.replace("flash_size = 0x1000", "flash_size = 'big'"), "[memory] flash_size: expected an integer, found 'big'"),
    (GOOD.replace("flash_size = 0x1000\n", ""), "[memory] flash_size: missing (required)"),
    (GOOD.replace("1000000", "0"), "[machine] core_clock_hz: expected 1..10000000000, found 0"),
    (GOOD + "profile = 'huge'\n", None),
    (GOOD.replace("[machine]\n", "[machine]\nprofile = 'huge'\n"), "[machine] profile: unknown accelerator profile 'huge'; expected one of tiny, edge-v1, edge-v2 or a profile .toml file"),
    (GOOD.replace("[machine]\n", "[machine]\nspeed = 3\n"), "[machine] speed: unknown key; expected one of name, profile, core_clock_hz, accelerator"),
])
def test_bad_machine_messages(tmp_path, text, message):
    path = tmp_path / "m.toml"
    path.write_text(text)
    if message is None:  # a key after [memory] lands in [memory]: unknown key there
        with pytest.raises(MachineError, match=r"\[memory\] profile: unknown key"):
            load_machine(path)
        return
    with pytest.raises(MachineError) as err:
        load_machine(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_missing_machine_file(tmp_path):
    with pytest.raises(MachineError, match=f"^{tmp_path}/nope.toml: no such machine description$"):
        load_machine(tmp_path / "nope.toml")
