"""Random quantized GEMM models as protocol v1 model images (compiler.model_format), for the device tests.

`make_model(rng, dims, max_rows)` chains len(dims) - 1 layers: layer i maps
dims[i] inputs to dims[i + 1] outputs, with random int8 weights, int32 bias
and per-channel (mult, shift) chosen so outputs spread over the int8 range.
The image is followed by a workspace: input, one buffer per layer output.

Usage:
    m = make_model(np.random.default_rng(1), [32, 24, 16], max_rows=16)
    m.image, m.input_offset, m.output_offset, m.out_cols, m.reference(x)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware import protocol_v1 as P
from compiler.model_format import build_image, image_crc, model_hash, table_size
from compiler.reference_exec import run_image

ALIGN = 64


def _al(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class Model:
    image: bytes
    input_offset: int
    output_offset: int
    in_cols: int
    out_cols: int
    out_bytes: int           # bytes per output row
    max_rows: int
    footprint: int

    @property
    def crc(self) -> int:
        return image_crc(self.image)

    @property
    def hash(self) -> bytes:
        return model_hash(self.image)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return run_image(self.image, x)


def make_model(rng, dims, max_rows: int, relu: bool = True, bias: bool = True, raw32_last: bool = False,
               pad: int = 0) -> Model:
    """`pad` random constant bytes no layer reads are appended to the image (a big image with a small plan)."""
    nl = len(dims) - 1
    consts = bytearray()
    cbase = table_size(nl)
    layers = []
    params = []
    for i in range(nl):
        k, n = dims[i], dims[i + 1]
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        bias_v = rng.integers(-2000, 2000, n, dtype=np.int32)
        mult = rng.integers(1 << 29, 1 << 30, n, dtype=np.int32)
        shift = np.full(n, 31 + int(np.ceil(np.log2(max(1, 128 * np.sqrt(k))))) - 6, dtype=np.int32)
        offs = {}
        for name, arr in (("b", b), ("bias", bias_v), ("mult", mult), ("shift", shift)):
            consts += bytes(_al(len(consts)) - len(consts))
            offs[name] = cbase + len(consts)
            consts += arr.tobytes()
        params.append(offs)
    consts += bytes(_al(len(consts)) - len(consts))
    consts += rng.integers(0, 256, _al(pad), dtype=np.uint8).tobytes()
    image_size = cbase + len(consts)
    ws = _al(image_size)
    in_off = ws
    ws += _al(max_rows * dims[0])
    outs = []
    for i in range(nl):
        ob = 4 if raw32_last and i == nl - 1 else 1
        outs.append((ws, dims[i + 1] * ob))
        ws += _al(max_rows * dims[i + 1] * ob)
    for i in range(nl):
        k, n = dims[i], dims[i + 1]
        raw = raw32_last and i == nl - 1
        flags = (P.LAYER_FLAG_RELU if relu and not raw else 0) | (P.LAYER_FLAG_BIAS if bias else 0) \
            | (P.LAYER_FLAG_RAW32 if raw else 0)
        a_off = in_off if i == 0 else outs[i - 1][0]
        layers.append(dict(op=P.LAYER_OP_GEMM, flags=flags, zp_in=0, zp_out=int(rng.integers(-10, 10)), m=max_rows, n=n,
                           k=k, a_offset=a_off, c_offset=outs[i][0], b_offset=params[i]["b"],
                           bias_offset=params[i]["bias"], mult_offset=params[i]["mult"],
                           shift_offset=params[i]["shift"], a_stride=k, b_stride=n, c_stride=outs[i][1]))
    header = dict(magic=P.MODEL_MAGIC, footprint=ws, max_rows=max_rows, input_offset=in_off, input_row_bytes=dims[0],
                  output_offset=outs[-1][0], output_row_bytes=outs[-1][1], input_scale=1.0, output_scale=1.0,
                  input_zp=0, output_zp=0)
    image = build_image(header, layers, bytes(consts))
    assert len(image) == image_size
    return Model(image, in_off, outs[-1][0], dims[0], dims[-1], outs[-1][1], max_rows, ws)
