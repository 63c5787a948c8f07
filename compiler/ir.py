"""The compiler's typed IR: an int8 network as a list of layers with every integer parameter resolved.

The importer (compiler/tflite_import.py) fills it from a TFLite file with the
quantization parameters TFLite Micro derives at Prepare (compiler/quantization.py);
the reference executor (compiler/reference.py) and the lowering to a command
stream (compiler/lower.py) read it. Activations are NHWC int8 (rank 2 [1, K] for
fully connected inputs/outputs), batch 1; weights keep TFLite's layout.

Usage:
    model = import_tflite("model.tflite")          # -> Model
    for layer in model.layers: layer.kind, layer.inputs, layer.output
    model.tensors[model.input].shape
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Activation:
    """A non-constant int8 tensor (batch 1) with per-tensor quantization."""

    index: int                  # the TFLite tensor index
    name: str
    shape: tuple[int, ...]
    scale: float                # float32 value as stored
    zero_point: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Padding:
    """Explicit spatial padding (TFLM ComputePaddingHeightWidth: top/left = total // 2, the rest bottom/right)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


@dataclass
class Layer:
    """Common fields: the TFLite operator index and name, input and output activation indices."""

    index: int                  # operator index in the TFLite subgraph
    op: str                     # TFLite builtin name, e.g. "CONV_2D"
    inputs: tuple[int, ...]     # activation tensor indices (constants are held by the layer)
    output: int

    kind = "layer"


@dataclass
class Requant:
    """Per-channel TFLite requantization: out = clamp(MBQM(acc, mult, shift) + zp_out, act_min, act_max)."""

    mult: np.ndarray            # int32 [C], 0 <= mult < 2^31
    shift: np.ndarray           # int32 [C], TFLite exponent: > 0 left, < 0 right
    zp_out: int
    act_min: int
    act_max: int


@dataclass
class Conv2D(Layer):
    """CONV_2D: weights int8 [Cout, KH, KW, Cin], bias int32 [Cout] as stored (not folded)."""

    weights: np.ndarray = None
    bias: np.ndarray = None
    zp_in: int = 0
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pad: Padding = field(default_factory=Padding)
    rq: Requant = None

    kind = "conv"


@dataclass
class DepthwiseConv2D(Layer):
    """DEPTHWISE_CONV_2D: weights int8 [1, KH, KW, Cout] with Cout = Cin * depth_multiplier."""

    weights: np.ndarray = None
    bias: np.ndarray = None
    zp_in: int = 0
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pad: Padding = field(default_factory=Padding)
    depth_multiplier: int = 1
    rq: Requant = None

    kind = "dwconv"


@dataclass
class FullyConnected(Layer):
    """FULLY_CONNECTED: weights int8 [N, K], bias int32 [N]; the input is flattened to K features."""

    weights: np.ndarray = None
    bias: np.ndarray = None
    zp_in: int = 0
    rq: Requant = None

    kind = "fc"


@dataclass
class Add(Layer):
    """ADD of two same-shape int8 tensors with per-input rescale (TFLM add_common.cc, left_shift 20)."""

    zp_in1: int = 0
    zp_in2: int = 0
    zp_out: int = 0
    left_shift: int = 20
    mult1: int = 0
    shift1: int = 0
    mult2: int = 0
    shift2: int = 0
    mult_out: int = 0
    shift_out: int = 0
    act_min: int = -128
    act_max: int = 127

    kind = "add"


@dataclass
class Pool2D(Layer):
    """AVERAGE_POOL_2D / MAX_POOL_2D: input and output share scale and zero point."""

    mode: str = "avg"           # "avg" or "max"
    filter: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    pad: Padding = field(default_factory=Padding)
    act_min: int = -128
    act_max: int = 127

    kind = "pool"


@dataclass
class Softmax(Layer):
    """SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) over the last axis."""

    input_mult: int = 0
    input_left_shift: int = 0
    diff_min: int = 0

    kind = "softmax"


@dataclass
class Pad(Layer):
    """PAD of a 4-D NHWC tensor with the zero point (spatial and channel padding)."""

    pads: tuple[tuple[int, int], ...] = ()     # (before, after) per dimension
    value: int = 0

    kind = "pad"


@dataclass
class Reshape(Layer):
    """RESHAPE: the same bytes under another shape (an alias; no work)."""

    kind = "reshape"


@dataclass
class Model:
    """An imported network: activations by TFLite index, layers in execution order, one input and one output."""

    name: str
    tensors: dict[int, Activation]
    layers: list[Layer]
    input: int
    output: int
    # Host-side edge conversion when the graph starts with QUANTIZE / ends with DEQUANTIZE (else None).
    float_input: tuple[float, int] | None = None
    float_output: tuple[float, int] | None = None

    def consumers(self, tensor: int) -> list[Layer]:
        return [layer for layer in self.layers if tensor in layer.inputs]
