"""The model image the device executes: a header, a layer table and constant tensors, declared once with construct.

A model image is position independent: every address in it is an offset from
the model's base in DRAM (given by LOAD_MODEL). The image (header + layer table +
weights, biases, multipliers, shifts) is followed by the workspace (input, output
and intermediate activation buffers), which the image does not contain; the
header's `footprint` covers both. Specification: docs/model-format.md.

Usage:
    image = build_image(header_fields, layers, constants)   # bytes, hash filled in
    model = parse_image(image)          # -> Container(header=..., layers=[...])
    model_hash(image), image_crc(image)
"""

from __future__ import annotations

import hashlib
import zlib

import construct as cs

from firmware import protocol_v1 as P

ModelHeader = cs.Struct(
    "magic" / cs.Const(P.MODEL_MAGIC, cs.Int32ul),
    "format_version" / cs.Int16ul,
    "header_size" / cs.Int16ul,
    "layer_count" / cs.Int16ul,
    "entry_size" / cs.Int16ul,
    "image_size" / cs.Int32ul,          # bytes covered by the CRC and the hash
    "footprint" / cs.Int32ul,           # image + workspace, bytes from the base
    "max_rows" / cs.Int16ul,            # largest RUN rows (the layers' M)
    "reserved0" / cs.Int16ul,
    "input_offset" / cs.Int32ul,        # model input: max_rows x input_row_bytes int8
    "input_row_bytes" / cs.Int32ul,
    "output_offset" / cs.Int32ul,       # model output: max_rows x output_row_bytes
    "output_row_bytes" / cs.Int32ul,
    "input_scale" / cs.Float32l,        # host-side (de)quantization; the device ignores these
    "output_scale" / cs.Float32l,
    "input_zp" / cs.Int8sl,
    "output_zp" / cs.Int8sl,
    "reserved1" / cs.Int16ul,
    "hash" / cs.Bytes(P.MODEL_HASH_SIZE),   # SHA-256 of the image with this field zeroed
    "reserved2" / cs.Bytes(12),
)
assert ModelHeader.sizeof() == P.MODEL_HEADER_SIZE

LayerEntry = cs.Struct(
    "op" / cs.Int8ul,                   # LAYER_OP_GEMM
    "flags" / cs.Int8ul,                # LAYER_FLAG_*
    "zp_in" / cs.Int8sl,                # input zero point (already folded into bias; informative)
    "zp_out" / cs.Int8sl,               # TENSOR.ZP_OUT
    "m" / cs.Int16ul, "n" / cs.Int16ul, "k" / cs.Int16ul,
    "reserved" / cs.Int16ul,
    "a_offset" / cs.Int32ul,            # input activations, int8 [M, K]
    "c_offset" / cs.Int32ul,            # output, int8 [M, N] (int32 in RAW32)
    "b_offset" / cs.Int32ul,            # weights, int8 [K, N] row-major
    "bias_offset" / cs.Int32ul,         # int32 [N]
    "mult_offset" / cs.Int32ul,         # int32 [N]
    "shift_offset" / cs.Int32ul,        # int32 [N]
    "a_stride" / cs.Int32ul, "b_stride" / cs.Int32ul, "c_stride" / cs.Int32ul,
)
assert LayerEntry.sizeof() == P.LAYER_ENTRY_SIZE

ModelTable = cs.Struct(
    "header" / ModelHeader,
    "layers" / cs.Array(cs.this.header.layer_count, LayerEntry),
)

HASH_OFFSET = ModelHeader.sizeof() - P.MODEL_HASH_SIZE - 12


def _zero_hash(image: bytes) -> bytes:
    return image[:HASH_OFFSET] + bytes(P.MODEL_HASH_SIZE) + image[HASH_OFFSET + P.MODEL_HASH_SIZE:]


def model_hash(image: bytes) -> bytes:
    """SHA-256 of the image with its hash field zeroed (the model's identity)."""
    return hashlib.sha256(_zero_hash(image)).digest()


def image_crc(image: bytes) -> int:
    """CRC32 of the whole image as stored (what the device checks on LOAD_MODEL)."""
    return zlib.crc32(image)


def table_size(layer_count: int) -> int:
    return P.MODEL_HEADER_SIZE + layer_count * P.LAYER_ENTRY_SIZE


def build_image(header: dict, layers: list[dict], constants: bytes) -> bytes:
    """Header + table + constants, with image_size, counts and hash filled in."""
    fields = dict(header, format_version=P.MODEL_FORMAT_VERSION, header_size=P.MODEL_HEADER_SIZE,
                  layer_count=len(layers), entry_size=P.LAYER_ENTRY_SIZE,
                  image_size=table_size(len(layers)) + len(constants), hash=bytes(P.MODEL_HASH_SIZE),
                  reserved0=0, reserved1=0, reserved2=bytes(12))
    image = ModelTable.build({"header": fields, "layers": [dict(layer, reserved=0) for layer in layers]}) + constants
    digest = model_hash(image)
    return image[:HASH_OFFSET] + digest + image[HASH_OFFSET + P.MODEL_HASH_SIZE:]


def parse_image(image: bytes) -> cs.Container:
    return ModelTable.parse(image)
