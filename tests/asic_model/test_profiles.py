"""Revision profiles: the shipped ones load with their documented shapes; every bad file fails with an exact message."""

import re

import pytest

from asic_model.profiles import PROFILE_DIR, PROFILE_NAMES, Profile, ProfileError, load_profile

EDGE_V1 = (PROFILE_DIR / "edge-v1.toml").read_text()


def test_shipped_profiles_keep_the_shapes_native_specializes_for():
    shapes = {n: (p.array_rows, p.array_cols, p.vector_width) for n in PROFILE_NAMES for p in [load_profile(n)]}
    assert shapes == {"tiny": (8, 8, 16), "edge-v1": (16, 16, 32), "edge-v2": (32, 32, 64)}


def test_edge_v1_values():
    p = load_profile("edge-v1")
    assert isinstance(p, Profile)
    assert (p.sram_size, p.sram_banks, p.sram_bank_interleave, p.dma_channels, p.clock_hz, p.node_nm) == (
        256 * 1024, 4, 64, 2, 1_000_000_000, 16)
    assert p.energy.static_power_mw == 40 and p.energy.mac_fj is None
    with pytest.raises(AttributeError):
        p.sram_size = 1  # frozen


def test_profiles_have_distinct_ids_and_grow():
    ps = [load_profile(n) for n in PROFILE_NAMES]
    assert len({p.id for p in ps}) == len(ps)
    assert [p.sram_size for p in ps] == sorted(p.sram_size for p in ps)
    assert ps[0].dma_channels in (1, 2) and ps[-1].dma_channels == 4


def test_sram_bank_mapping_is_line_interleaved():
    p = load_profile("edge-v1")
    assert [p.sram_bank(o) for o in (0, 63, 64, 128, 192, 256, 300)] == [0, 0, 1, 2, 3, 0, 0]


def test_load_by_path(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text(EDGE_V1.replace('name = "edge-v1"', 'name = "mine"'))
    p = load_profile(f)
    assert p.name == "mine" and p.path == str(f)


def _bad(tmp_path, old, new, name="edge-v1.toml"):
    assert old in EDGE_V1, old
    f = tmp_path / name
    f.write_text(EDGE_V1.replace(old, new, 1))
    return f


BAD = [
    ("size = 262144 ", "size = 1000 ",
     "edge-v1.toml: [sram] size: expected a positive multiple of banks*bank_interleave (256), found 1000"),
    ("size = 262144 ", "", "edge-v1.toml: [sram] size: missing (expected an integer in 1..16777216)"),
    ("array_rows = 16", 'array_rows = "16"', "edge-v1.toml: [tensor] array_rows: expected an integer in 1..256, found string '16'"),
    ("array_rows = 16", "array_rows = 0", "edge-v1.toml: [tensor] array_rows: expected an integer in 1..256, found 0"),
    ("array_rows = 16", "array_rows = true", "edge-v1.toml: [tensor] array_rows: expected an integer in 1..256, found boolean true"),
    ("vector_width = 32", "vector_width = 48", "edge-v1.toml: [tensor] vector_width: expected a power of two in 1..512, found 48"),
    ("channels = 2", "channels = 5", "edge-v1.toml: [dma] channels: expected an integer in 1..4, found 5"),
    ("node_nm = 16", "node_nm = 14", "edge-v1.toml: [profile] node_nm: expected one of 45, 28, 16, 7, found 14"),
    ('kind = "LPDDR4"', 'kind = "SDRAM"', "edge-v1.toml: [dram] kind: expected one of LPDDR4, HBM2, GDDR5, DDR3, found string 'SDRAM'"),
    ("size = 67108864 ", "size = 1073741824 ", "edge-v1.toml: [dram] size: expected an integer in 1..536870912, found 1073741824"),
    ("bytes_per_cycle = 32", "bytes_per_cycle = 32\ncolour = 1",
     "edge-v1.toml: [dma] colour: unknown key (known: channels, bytes_per_cycle)"),
    ("[energy]", "[fancy]\nx = 1\n[energy]",
     "edge-v1.toml: [fancy]: unknown section (known: profile, tensor, vector, sram, dram, dma, energy)"),
    ("static_power_mw = 40", "static_power_mw = -1",
     "edge-v1.toml: [energy] static_power_mw: expected a non-negative number (milliwatts), found -1"),
    ("static_power_mw = 40", "static_power_mw = 40\nmac_fj = 1.5",
     "edge-v1.toml: [energy] mac_fj: expected a non-negative integer (femtojoules), found 1.5"),
    ("clock_hz = 1_000_000_000", "clock_hz = [1]", "edge-v1.toml: [profile] clock_hz: expected an integer in 1..10000000000, found an array"),
    ("[dma]\nchannels = 2\nbytes_per_cycle = 32\n", "", "edge-v1.toml: [dma]: missing section"),
    ("static_power_mw = 40", "static_power_mw = 40\n[tensor.sub]", "edge-v1.toml: [tensor] sub: unknown key (known: array_rows, array_cols, vector_width)"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=[b[2][:50] for b in BAD])
def test_bad_profile_message(tmp_path, old, new, message):
    with pytest.raises(ProfileError, match=f"^{re.escape(message)}$"):
        load_profile(_bad(tmp_path, old, new))


def test_invalid_toml_names_the_file_and_position(tmp_path):
    with pytest.raises(ProfileError, match=r"^edge-v1\.toml: invalid TOML: Invalid value \(at line 8, column 11\)$"):
        load_profile(_bad(tmp_path, "node_nm = 16", "node_nm = = 16"))


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(ProfileError, match=re.escape(
            "edge-v3: unknown profile (expected one of tiny, edge-v1, edge-v2, or a path to a .toml file)")):
        load_profile("edge-v3")
    with pytest.raises(ProfileError, match=f"^nope.toml: no such file \\({re.escape(str(tmp_path))}/nope.toml\\)$"):
        load_profile(tmp_path / "nope.toml")


def test_non_utf8(tmp_path):
    f = tmp_path / "x.toml"
    f.write_bytes(b"[profile]\nname = \"\xff\"\n")
    with pytest.raises(ProfileError, match=r"^x\.toml: not UTF-8 text \(byte 18\)$"):
        load_profile(f)
