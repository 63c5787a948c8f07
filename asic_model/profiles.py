"""Revision profiles: the accelerator's shape, memories, clock and energy assumptions, from TOML.

A profile names one chip revision (`tiny`, `edge-v1`, `edge-v2` ship in
`asic_model/profiles/`). Every key is declared once in `SCHEMA` below with its
type and range; a bad file raises `ProfileError` whose message names the file,
the section and the key, e.g.
`edge-v1.toml: [sram] size: expected a positive multiple of banks*bank_interleave (256), found 1000`.

Usage:
    from asic_model.profiles import load_profile, PROFILE_NAMES
    p = load_profile("edge-v1")            # or a path to a .toml file
    p.array_rows, p.vector_width, p.vector_lanes, p.sram_size, p.clock_hz, p.energy.static_power_mw
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from asic_model.soc_map import CONSTANTS, region

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILE_NAMES = ("tiny", "edge-v1", "edge-v2")

# Process nodes the energy model can scale to (Stillmaker-Baas factors in asic_model/energy.py).
NODES_NM = (45, 28, 16, 7)
# DRAM kinds with a published energy per bit (asic_model/energy.py).
DRAM_KINDS = ("LPDDR4", "HBM2", "GDDR5", "DDR3")
MAX_ARRAY_DIM = 256
MAX_VECTOR_WIDTH = 512
MAX_VECTOR_LANES = 512
MAX_SRAM_BANKS = 64
MAX_DMA_BYTES_PER_CYCLE = 1024
MAX_CLOCK_HZ = 10_000_000_000
MAX_PROFILE_ID = 0xFFFF_FFFF


class ProfileError(ValueError):
    """A profile file is missing, malformed or inconsistent; the message names the file and key."""


@dataclass(frozen=True)
class EnergyParams:
    """The profile's energy section: static power, and optional per-action overrides in femtojoules."""

    static_power_mw: float
    mac_fj: int | None = None
    sram_read_fj_per_byte: int | None = None
    sram_write_fj_per_byte: int | None = None
    dram_fj_per_byte: int | None = None
    vu_op_fj: int | None = None


@dataclass(frozen=True)
class Profile:
    """One accelerator revision; every size in bytes, every rate per accelerator cycle."""

    name: str
    id: int
    description: str
    node_nm: int
    clock_hz: int
    array_rows: int
    array_cols: int
    vector_width: int
    vector_lanes: int
    sram_size: int
    sram_banks: int
    sram_bank_interleave: int
    dram_size: int
    dram_kind: str
    dma_channels: int
    dma_bytes_per_cycle: int
    energy: EnergyParams
    path: str = ""

    def sram_bank(self, offset: int) -> int:
        """Bank of an SRAM byte offset: consecutive `sram_bank_interleave`-byte lines rotate over the banks."""
        return (offset // self.sram_bank_interleave) % self.sram_banks

    @property
    def sram_bank_size(self) -> int:
        return self.sram_size // self.sram_banks

    @property
    def macs_per_cycle(self) -> int:
        return self.array_rows * self.array_cols


# ---------------------------------------------------------------- schema
def _int(lo: int, hi: int) -> tuple[str, Callable[[Any], bool]]:
    return f"an integer in {lo}..{hi}", lambda v: _is_int(v) and lo <= v <= hi


def _pow2(lo: int, hi: int) -> tuple[str, Callable[[Any], bool]]:
    return (f"a power of two in {lo}..{hi}",
            lambda v: _is_int(v) and lo <= v <= hi and v & (v - 1) == 0)


def _one_of(values: tuple) -> tuple[str, Callable[[Any], bool]]:
    return f"one of {', '.join(map(str, values))}", lambda v: v in values and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_STR = ("a non-empty string", lambda v: isinstance(v, str) and v != "")
_FJ = ("a non-negative integer (femtojoules)", lambda v: _is_int(v) and 0 <= v <= 10**9)
_MW = ("a non-negative number (milliwatts)", lambda v: _is_num(v) and 0 <= v <= 10**6)
_SRAM_MAX = region("SRAM").max_size
_DRAM_MAX = region("DRAM").max_size

# section -> key -> (field name, (expectation, check), required)
SCHEMA: dict[str, dict[str, tuple[str, tuple[str, Callable[[Any], bool]], bool]]] = {
    "profile": {
        "name": ("name", _STR, True),
        "id": ("id", _int(0, MAX_PROFILE_ID), True),
        "description": ("description", _STR, True),
        "node_nm": ("node_nm", _one_of(NODES_NM), True),
        "clock_hz": ("clock_hz", _int(1, MAX_CLOCK_HZ), True),
    },
    "tensor": {
        "array_rows": ("array_rows", _int(1, MAX_ARRAY_DIM), True),
        "array_cols": ("array_cols", _int(1, MAX_ARRAY_DIM), True),
        "vector_width": ("vector_width", _pow2(1, MAX_VECTOR_WIDTH), True),
    },
    "vector": {
        "lanes": ("vector_lanes", _pow2(1, MAX_VECTOR_LANES), True),
    },
    "sram": {
        "size": ("sram_size", _int(1, _SRAM_MAX), True),
        "banks": ("sram_banks", _int(1, MAX_SRAM_BANKS), True),
        "bank_interleave": ("sram_bank_interleave", _pow2(1, _SRAM_MAX), True),
    },
    "dram": {
        "size": ("dram_size", _int(1, _DRAM_MAX), True),
        "kind": ("dram_kind", _one_of(DRAM_KINDS), True),
    },
    "dma": {
        "channels": ("dma_channels", _int(1, CONSTANTS["DMA_MAX_CHANNELS"].value), True),
        "bytes_per_cycle": ("dma_bytes_per_cycle", _int(1, MAX_DMA_BYTES_PER_CYCLE), True),
    },
    "energy": {
        "static_power_mw": ("static_power_mw", _MW, True),
        "mac_fj": ("mac_fj", _FJ, False),
        "sram_read_fj_per_byte": ("sram_read_fj_per_byte", _FJ, False),
        "sram_write_fj_per_byte": ("sram_write_fj_per_byte", _FJ, False),
        "dram_fj_per_byte": ("dram_fj_per_byte", _FJ, False),
        "vu_op_fj": ("vu_op_fj", _FJ, False),
    },
}
_ENERGY_FIELDS = tuple(f for f, _, _ in SCHEMA["energy"].values())


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return repr(v)


def parse_profile(doc: dict, filename: str, path: str = "") -> Profile:
    """Check a parsed TOML document against SCHEMA and build the Profile."""
    for section, value in doc.items():
        if section not in SCHEMA:
            raise ProfileError(f"{filename}: [{section}]: unknown section (known: {', '.join(SCHEMA)})")
        if not isinstance(value, dict):
            raise ProfileError(f"{filename}: [{section}]: expected a table, found {_describe(value)}")
    values: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        table = doc.get(section)
        if table is None:
            raise ProfileError(f"{filename}: [{section}]: missing section")
        for key in table:
            if key not in keys:
                raise ProfileError(f"{filename}: [{section}] {key}: unknown key (known: {', '.join(keys)})")
        for key, (fname, (expected, check), required) in keys.items():
            if key not in table:
                if required:
                    raise ProfileError(f"{filename}: [{section}] {key}: missing (expected {expected})")
                values[fname] = None
                continue
            v = table[key]
            if not check(v):
                raise ProfileError(f"{filename}: [{section}] {key}: expected {expected}, found {_describe(v)}")
            values[fname] = v
    line = values["sram_banks"] * values["sram_bank_interleave"]
    if values["sram_size"] % line:
        raise ProfileError(f"{filename}: [sram] size: expected a positive multiple of banks*bank_interleave ({line}), "
                           f"found {values['sram_size']}")
    energy = EnergyParams(**{f: values.pop(f) for f in _ENERGY_FIELDS})
    return Profile(energy=energy, path=path, **values)


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name (see PROFILE_NAMES) or any profile file by path."""
    text = str(name_or_path)
    if text in PROFILE_NAMES:
        path = PROFILE_DIR / f"{text}.toml"
    elif text.endswith(".toml") or "/" in text:
        path = Path(text)
    else:
        raise ProfileError(f"{text}: unknown profile (expected one of {', '.join(PROFILE_NAMES)}, or a path to a .toml file)")
    filename = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(f"{filename}: no such file ({path})") from None
    except OSError as exc:
        raise ProfileError(f"{filename}: cannot read: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{filename}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{filename}: invalid TOML: {exc}") from None
    return parse_profile(doc, filename, str(path))
