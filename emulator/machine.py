"""Machine descriptions: which accelerator profile, memory sizes, MMIO windows and core clock.

A machine is a small TOML file (`emulator/machines/default.toml` ships). Bases
come from `asic_model.soc_map.MEMORY`; FLASH and RAM sizes from the file; SRAM
and DRAM sizes from the accelerator revision profile it names. Every mistake is
a `MachineError` naming the file and the key.

Usage:
    from emulator.machine import load_machine
    m = load_machine()                      # the default machine
    m = load_machine("my.toml")
    m = load_machine(profile="my-profile.toml")   # a shipped profile name or any valid profile file
    m.regions["RAM"]                        # (base, size)
    m.core_clock_hz, m.profile, m.path, m.mmio_windows, m.accelerator
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from asic_model.soc_map import SOC, region

MACHINES_DIR = Path(__file__).with_name("machines")
DEFAULT_MACHINE = MACHINES_DIR / "default.toml"
PAGE = 4096  # Unicorn maps memory in 4 KiB pages
PROFILES = ("tiny", "edge-v1", "edge-v2")
ACCELERATOR_BLOCKS = ("ACCEL", "DMA", "TENSOR", "PERF", "VECTOR")
SOC_BLOCKS = ("SYSCTL", "UART", "TIMER", "INTC", "WDT")
MAX_CORE_CLOCK_HZ = 10_000_000_000
KiB, MiB = 1024, 1024 * 1024
# Used only while asic_model.profiles is not importable (SRAM, DRAM bytes).
_PROVISIONAL_MEMORY = {"tiny": (256 * KiB, 16 * MiB), "edge-v1": (1 * MiB, 64 * MiB), "edge-v2": (4 * MiB, 256 * MiB)}

_SCHEMA = {
    "machine": {"name": str, "profile": str, "core_clock_hz": int, "accelerator": bool},
    "memory": {"flash_size": int, "ram_size": int},
    "mmio": {"windows": list},
}
_REQUIRED = {"machine": ("core_clock_hz",), "memory": ("flash_size", "ram_size")}


class MachineError(ValueError):
    """A machine description is unreadable or inconsistent; the message names the file and key."""


@dataclass
class MachineDesc:
    """A validated machine: everything the SoC builder and linker-script generator need."""

    path: Path
    name: str
    profile: str
    core_clock_hz: int
    regions: dict[str, tuple[int, int]]
    mmio_windows: tuple[str, ...]
    accelerator: bool = True
    extra: dict = field(default_factory=dict)

    def region_of(self, addr: int) -> str | None:
        for name, (base, size) in self.regions.items():
            if base <= addr < base + size:
                return name
        return None


def _type_name(t: type) -> str:
    return {int: "an integer", str: "a string", bool: "true or false", list: "a list"}[t]


def profile_memory(profile: str) -> tuple[int, int]:
    """(SRAM size, DRAM size) in bytes of a revision profile, from asic_model.profiles."""
    try:
        from asic_model.profiles import load_profile
    except ImportError:  # the profiles module has not landed yet: provisional sizes
        return _PROVISIONAL_MEMORY[profile]
    p = load_profile(profile)
    return int(p.sram_size), int(p.dram_size)


def load_machine(path: str | Path | None = None, profile: str | None = None) -> MachineDesc:
    """Parse and check a machine description; `profile` overrides the file's profile."""
    path = Path(path) if path is not None else DEFAULT_MACHINE
    where = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise MachineError(f"{where}: no such machine description") from None
    except tomllib.TOMLDecodeError as exc:
        raise MachineError(f"{where}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MachineError(f"{where}: cannot read: {exc}") from None

    for table, value in data.items():
        if table not in _SCHEMA:
            raise MachineError(f"{where}: unknown table [{table}]; expected {', '.join(f'[{t}]' for t in _SCHEMA)}")
        if not isinstance(value, dict):
            raise MachineError(f"{where}: {table}: expected a table [{table}], found {type(value).__name__}")
        for key, v in value.items():
            if key not in _SCHEMA[table]:
                raise MachineError(f"{where}: [{table}] {key}: unknown key; expected one of {', '.join(_SCHEMA[table])}")
            want = _SCHEMA[table][key]
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                raise MachineError(f"{where}: [{table}] {key}: expected {_type_name(want)}, found {v!r}")
    for table, keys in _REQUIRED.items():
        for key in keys:
            if key not in data.get(table, {}):
                raise MachineError(f"{where}: [{table}] {key}: missing (required)")

    m, mem, mmio = data.get("machine", {}), data["memory"], data.get("mmio", {})
    name = m.get("name", path.stem)
    prof = profile if profile is not None else m.get("profile", "edge-v1")
    prof_key = "--profile" if profile is not None else "[machine] profile"
    if prof not in PROFILES and not prof.endswith(".toml"):
        raise MachineError(f"{where}: {prof_key}: unknown accelerator profile {prof!r}; expected one of {', '.join(PROFILES)} "
                           "or a profile .toml file")
    clock = m["core_clock_hz"]
    if not 0 < clock <= MAX_CORE_CLOCK_HZ:
        raise MachineError(f"{where}: [machine] core_clock_hz: expected 1..{MAX_CORE_CLOCK_HZ}, found {clock}")

    regions: dict[str, tuple[int, int]] = {}
    for rname, key in (("FLASH", "flash_size"), ("RAM", "ram_size")):
        size, r = mem[key], region(rname)
        if size <= 0 or size % PAGE or size > r.max_size:
            raise MachineError(f"{where}: [memory] {key}: expected a multiple of 0x{PAGE:x} in 0x{PAGE:x}..0x{r.max_size:x} "
                               f"({rname} window), found 0x{size:x}" if size >= 0 else
                               f"{where}: [memory] {key}: expected a positive size, found {size}")
        regions[rname] = (r.base, size)
    accelerator = m.get("accelerator", True)
    try:
        sram, dram = profile_memory(prof)
    except ValueError as exc:  # asic_model.profiles.ProfileError: a profile file that is not valid
        raise MachineError(f"{where}: {prof_key}: {exc}") from None
    for rname, size in (("SRAM", sram), ("DRAM", dram)):
        r = region(rname)
        if size <= 0 or size % PAGE or size > r.max_size:
            raise MachineError(f"{where}: [machine] profile: profile {prof!r} gives {rname} size 0x{size:x}, "
                               f"expected a multiple of 0x{PAGE:x} up to 0x{r.max_size:x}")
        regions[rname] = (r.base, size)

    windows = mmio.get("windows", list(SOC_BLOCKS))
    for i, w in enumerate(windows):
        if not isinstance(w, str):
            raise MachineError(f"{where}: [mmio] windows[{i}]: expected a block name string, found {w!r}")
        if w in ACCELERATOR_BLOCKS:
            raise MachineError(f"{where}: [mmio] windows[{i}]: {w} belongs to the accelerator; "
                               f"set [machine] accelerator = true instead")
        if w not in SOC_BLOCKS:
            raise MachineError(f"{where}: [mmio] windows[{i}]: unknown block {w!r}; expected one of {', '.join(SOC_BLOCKS)}")
        if windows.index(w) != i:
            raise MachineError(f"{where}: [mmio] windows[{i}]: {w} listed twice")
    for needed in ("SYSCTL", "UART"):
        if needed not in windows:
            raise MachineError(f"{where}: [mmio] windows: {needed} is required (the session talks through it)")
    all_windows = tuple(windows) + (ACCELERATOR_BLOCKS if accelerator else ())
    return MachineDesc(path=path, name=name, profile=prof, core_clock_hz=clock, regions=regions,
                       mmio_windows=all_windows, accelerator=accelerator)


def mmio_span(desc: MachineDesc) -> list[tuple[str, int, int]]:
    """(block name, base, size) of every register window of the machine, by address."""
    return sorted(((n, SOC.block(n).base, SOC.block(n).size) for n in desc.mmio_windows), key=lambda t: t[1])
