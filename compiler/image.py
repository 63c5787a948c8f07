"""Model image format version 2: header + constants + command stream, declared once with construct.

The shared header fields (magic .. hash) are the version-1 declaration of
compiler/model_format.py, reused field by field: version 2 renames reserved0 to
dma_channels and replaces reserved2 with cmd_offset, cmd_count and sram_bytes
(docs/model-format.md, "Version 2"). Hash and CRC are computed as in version 1.

Layout: header (96) | constants (weights, params, zero-point blocks; 16-aligned) |
commands (CMD_SIZE each, 4-aligned) = image_size | workspace (input rows, output
rows, spilled activations) = footprint.

Usage:
    image = build_image_v2(header_fields, constants, commands)     # commands: list of dicts
    parsed = parse_image_v2(image); parsed.header.cmd_count; parsed.commands[0].op
"""

from __future__ import annotations

import construct as cs

from firmware import protocol_v1 as P
from compiler.model_format import HASH_OFFSET, ModelHeader, image_crc, model_hash  # noqa: F401  (re-exported)

_V2_RENAMED = {"reserved0": "dma_channels"}
_V2_TAIL = ("cmd_offset", "cmd_count", "sram_bytes")


def _v2_header() -> cs.Struct:
    fields = []
    for sc in ModelHeader.subcons:
        if sc.name == "reserved2":
            fields += [name / cs.Int32ul for name in _V2_TAIL]
        elif sc.name in _V2_RENAMED:
            fields.append(_V2_RENAMED[sc.name] / sc.subcon)
        else:
            fields.append(sc)
    return cs.Struct(*fields)


ModelHeaderV2 = _v2_header()
assert ModelHeaderV2.sizeof() == P.MODEL_HEADER_SIZE

Command = cs.Struct(
    "op" / cs.Int8ul,           # CMD_WRITE, CMD_WAIT, CMD_LAYER
    "reloc" / cs.Int8ul,        # RELOC_* (CMD_WRITE only)
    "arg" / cs.Int16ul,         # CMD_WAIT: unit mask; CMD_LAYER: layer index
    "addr" / cs.Int32ul,        # CMD_WRITE: MMIO register address
    "value" / cs.Int32ul,       # CMD_WRITE: value before relocation
)
assert Command.sizeof() == P.CMD_SIZE

CMD_ALIGN = 4


def build_image_v2(header: dict, constants: bytes, commands: list[dict]) -> bytes:
    """Header + constants + command stream, with sizes, counts and the hash filled in."""
    cmd_offset = P.MODEL_HEADER_SIZE + len(constants)
    cmd_offset += -cmd_offset % CMD_ALIGN
    body = constants + bytes(cmd_offset - P.MODEL_HEADER_SIZE - len(constants))
    stream = b"".join(Command.build(c) for c in commands)
    image_size = cmd_offset + len(stream)
    fields = dict(header, format_version=P.MODEL_FORMAT_V2, header_size=P.MODEL_HEADER_SIZE, entry_size=P.CMD_SIZE,
                  image_size=image_size, cmd_offset=cmd_offset, cmd_count=len(commands),
                  hash=bytes(P.MODEL_HASH_SIZE), reserved1=0)
    image = ModelHeaderV2.build(fields) + body + stream
    digest = model_hash(image)
    return image[:HASH_OFFSET] + digest + image[HASH_OFFSET + P.MODEL_HASH_SIZE:]


def parse_image_v2(image: bytes) -> cs.Container:
    """The header and the decoded command list of a version-2 image."""
    header = ModelHeaderV2.parse(image)
    cmds = cs.Array(header.cmd_count, Command).parse(image[header.cmd_offset:header.cmd_offset + header.cmd_count * P.CMD_SIZE])
    return cs.Container(header=header, commands=cmds)
