"""A compiled model as the host keeps it: the device image and what the host reads from its header.

Both image versions (docs/model-format.md) carry the same host-side facts at the same header
offsets: footprint, rows, input and output row sizes, and the float scale and zero point that
quantize inputs and dequantize outputs. The daemon journals only the image bytes and rebuilds
this object from them.

Usage:
    cm = CompiledModel.from_image(image)       # v1 or v2
    cm.hash, cm.crc, cm.footprint, cm.max_rows, cm.input_features, cm.output_features
    q = cm.quantize_input(x); y = cm.dequantize_output(q_out)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.image import parse_image_v2
from compiler.model_format import ModelHeader, image_crc, parse_image
from firmware import protocol_v1 as P

VERSION_AT = ModelHeader.subcons[0].sizeof()        # format_version follows the magic
VERSION_END = VERSION_AT + 2


@dataclass
class CompiledModel:
    """The model image plus its decoded header, for the host side."""

    image: bytes
    table: object = field(repr=False)

    @classmethod
    def from_image(cls, image: bytes) -> "CompiledModel":
        """Decode any image version: v1 (header + layer table) or v2 (header + command stream)."""
        if len(image) >= VERSION_END and int.from_bytes(image[VERSION_AT:VERSION_END], "little") == P.MODEL_FORMAT_V2:
            return cls(bytes(image), parse_image_v2(image))
        return cls(bytes(image), parse_image(image))

    @property
    def format_version(self) -> int:
        return self.header.format_version

    @property
    def header(self):
        return self.table.header

    @property
    def hash(self) -> bytes:
        return bytes(self.header.hash)

    @property
    def crc(self) -> int:
        return image_crc(self.image)

    @property
    def footprint(self) -> int:
        return self.header.footprint

    @property
    def max_rows(self) -> int:
        return self.header.max_rows

    @property
    def input_features(self) -> int:
        return self.header.input_row_bytes

    @property
    def output_features(self) -> int:
        return self.header.output_row_bytes

    def quantize_input(self, x) -> np.ndarray:
        """float [rows, K] -> int8, as onnxruntime's QuantizeLinear (float32, round half to even, saturate)."""
        x = np.asarray(x, dtype=np.float32)
        q = np.rint(x / np.float32(self.header.input_scale)) + self.header.input_zp
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_output(self, q) -> np.ndarray:
        return (np.asarray(q, np.float32) - np.float32(self.header.output_zp)) * np.float32(self.header.output_scale)
