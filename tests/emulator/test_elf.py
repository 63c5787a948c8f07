"""Bad firmware images: each defect gets an ElfError naming the file and what was found."""

from __future__ import annotations

import struct

import pytest

from emulator.elf_loader import ElfError, load_elf
from emulator.machine import load_machine


def _patch(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(raw)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def _phdr(raw: bytes, i: int) -> int:
    phoff, = struct.unpack_from("<I", raw, 28)
    return phoff + i * 32


@pytest.fixture
def hello(fw):
    return fw["hello"].read_bytes()


def _err(tmp_path, data: bytes) -> str:
    p = tmp_path / "bad.elf"
    p.write_bytes(data)
    with pytest.raises(ElfError) as e:
        load_elf(p, load_machine())
    msg = str(e.value)
    assert msg.startswith(f"{p}: ")
    return msg[len(str(p)) + 2:]


def test_good_image_loads(fw):
    img = load_elf(fw["hello"], load_machine())
    assert img.entry == 0 and img.symbols["_start"] == 0 and img.segments


def test_not_elf(tmp_path):
    assert _err(tmp_path, b"MZ\x90\x00garbage") == "not an ELF file (starts with b'MZ\\x90\\x00', expected b'\\x7fELF')"


def test_wrong_class(tmp_path, hello):
    assert _err(tmp_path, _patch(hello, 4, "B", 2)) == "ELF class is 64-bit, expected 32-bit (RV32)"


def test_wrong_machine(tmp_path, hello):
    assert _err(tmp_path, _patch(hello, 18, "<H", 40)) == "ELF machine is EM_ARM, expected EM_RISCV (243)"


def test_truncated(tmp_path, hello):
    msg = _err(tmp_path, hello[:200])
    assert msg.startswith("segment 0 at 0x00000000 is truncated: needs file bytes 0x")
    assert msg.endswith(", file has 0xc8")


def test_garbage_after_magic(tmp_path):
    assert _err(tmp_path, b"\x7fELF" + b"\x01" * 20).startswith("malformed ELF file: ")


def test_segment_outside_memory(tmp_path, hello):
    off = _phdr(hello, 0)
    bad = _patch(_patch(hello, off + 12, "<I", 0x7000_0000), off + 8, "<I", 0x7000_0000)
    msg = _err(tmp_path, bad)
    assert msg.startswith("segment 0 at 0x70000000..") and "lies outside the machine's memory (FLASH 0x00000000..0x000fffff" in msg


def test_entry_outside_flash(tmp_path, hello):
    assert _err(tmp_path, _patch(hello, 24, "<I", 0x8000_0000)) == \
        "entry point 0x80000000 is outside FLASH 0x00000000..0x000fffff"


def test_missing_file(tmp_path):
    with pytest.raises(ElfError, match="cannot read firmware: No such file or directory"):
        load_elf(tmp_path / "none.elf", load_machine())
