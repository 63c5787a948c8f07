"""Write an int8 TFLite flatbuffer from a list of tensors and operators (the schema of the `tflite` package).

TFLite files are what edge NPU toolchains consume and what TensorFlow Lite Micro, the reference
the device is bit-exact with, runs. Tessera writes them for models it builds itself (the main
job's digits CNN, trained locally) and for single-operator test models; the flatbuffer layout
comes from the `tflite` package's generated schema builders, this module only says which tables
to fill. Only what the compiler imports is written: int8/int32 tensors with per-tensor or
per-channel quantization, and the operators in `OPS`.

Usage:
    g = Graph()
    x = g.tensor("input", (1, 8, 8, 1), "int8", scale=0.02, zero_point=-128)
    w = g.tensor("w", (4, 3, 3, 1), "int8", scale=[0.01] * 4, zero_point=[0] * 4, data=w_int8)
    b = g.tensor("b", (4,), "int32", scale=[0.0002] * 4, zero_point=[0] * 4, data=b_int32)
    y = g.tensor("y", (1, 8, 8, 4), "int8", scale=0.05, zero_point=-10)
    g.op("CONV_2D", [x, w, b], [y], padding="SAME", stride=(1, 1), activation="RELU")
    g.inputs, g.outputs = [x], [y]
    flatbuffer = g.to_bytes()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import importlib

import flatbuffers
import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding
from tflite.TensorType import TensorType


def _schema(name: str):
    """The generated builder module `tflite.<name>` (the package re-exports its classes under the same names)."""
    return importlib.import_module(f"tflite.{name}")


(AddOptions, Buffer, Conv2DOptions, DepthwiseConv2DOptions, FullyConnectedOptions, Model, Operator, OperatorCode,
 Pool2DOptions, QuantizationParameters, ReshapeOptions, SoftmaxOptions, SubGraph, Tensor) = map(_schema, (
    "AddOptions", "Buffer", "Conv2DOptions", "DepthwiseConv2DOptions", "FullyConnectedOptions", "Model", "Operator",
    "OperatorCode", "Pool2DOptions", "QuantizationParameters", "ReshapeOptions", "SoftmaxOptions", "SubGraph",
    "Tensor"))

SCHEMA_VERSION = 3
DTYPES = {"int8": (TensorType.INT8, np.int8), "int32": (TensorType.INT32, np.int32)}
ACTIVATIONS = {"NONE": ActivationFunctionType.NONE, "RELU": ActivationFunctionType.RELU,
               "RELU6": ActivationFunctionType.RELU6, "RELU_N1_TO_1": ActivationFunctionType.RELU_N1_TO_1}
PADDINGS = {"SAME": Padding.SAME, "VALID": Padding.VALID}
OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D", "MAX_POOL_2D",
       "RESHAPE", "SOFTMAX", "PAD")


@dataclass
class TensorSpec:
    """One tensor: shape, type, quantization (per-tensor scalars or per-channel lists), constant data."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | list[float] | None = None
    zero_point: int | list[int] | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None


@dataclass
class OpSpec:
    op: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


class Graph:
    """A one-subgraph TFLite model under construction; tensors and operators refer to tensors by index."""

    def __init__(self) -> None:
        self.tensors: list[TensorSpec] = []
        self.ops: list[OpSpec] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    def tensor(self, name: str, shape, dtype: str, scale=None, zero_point=None, data=None,
               quantized_dimension: int = 0) -> int:
        if dtype not in DTYPES:
            raise ValueError(f"tensor {name!r}: dtype {dtype!r} is not one of {sorted(DTYPES)}")
        if data is not None:
            data = np.ascontiguousarray(data, dtype=DTYPES[dtype][1])
            if tuple(data.shape) != tuple(shape):
                raise ValueError(f"tensor {name!r}: data shape {data.shape} differs from {tuple(shape)}")
        self.tensors.append(TensorSpec(name, tuple(int(d) for d in shape), dtype, scale, zero_point,
                                       quantized_dimension, data))
        return len(self.tensors) - 1

    def op(self, op: str, inputs: list[int], outputs: list[int], **options) -> None:
        if op not in OPS:
            raise ValueError(f"operator {op!r} is not one of {', '.join(OPS)}")
        self.ops.append(OpSpec(op, list(inputs), list(outputs), options))

    def to_bytes(self) -> bytes:
        return _Writer(self).build()


class _Writer:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.b = flatbuffers.Builder(1024)

    def _vector(self, start, values, prepend) -> int:
        start(self.b, len(values))
        for v in reversed(values):
            prepend(v)
        return self.b.EndVector()

    def _ints(self, start, values) -> int:
        return self._vector(start, [int(v) for v in values], self.b.PrependInt32)

    def _offsets(self, start, offsets) -> int:
        return self._vector(start, offsets, self.b.PrependUOffsetTRelative)

    def _quant(self, t: TensorSpec) -> int | None:
        if t.scale is None:
            return None
        scales = [float(s) for s in np.atleast_1d(t.scale)]
        zps = [int(z) for z in np.atleast_1d(0 if t.zero_point is None else t.zero_point)]
        sv = self._vector(QuantizationParameters.QuantizationParametersStartScaleVector, scales, self.b.PrependFloat32)
        zv = self._vector(QuantizationParameters.QuantizationParametersStartZeroPointVector, zps, self.b.PrependInt64)
        QuantizationParameters.QuantizationParametersStart(self.b)
        QuantizationParameters.QuantizationParametersAddScale(self.b, sv)
        QuantizationParameters.QuantizationParametersAddZeroPoint(self.b, zv)
        QuantizationParameters.QuantizationParametersAddQuantizedDimension(self.b, t.quantized_dimension)
        return QuantizationParameters.QuantizationParametersEnd(self.b)

    def _buffer(self, data: bytes | None) -> int:
        dv = None
        if data:
            self.b.StartVector(1, len(data), 16)
            self.b.head = self.b.head - len(data)
            self.b.Bytes[self.b.head:self.b.head + len(data)] = data
            dv = self.b.EndVector()
        Buffer.BufferStart(self.b)
        if dv is not None:
            Buffer.BufferAddData(self.b, dv)
        return Buffer.BufferEnd(self.b)

    def _options(self, spec: OpSpec) -> tuple[int, int | None]:
        o, b = spec.options, self.b
        act = ACTIVATIONS[o.get("activation", "NONE")]
        if spec.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            sh, sw = o.get("stride", (1, 1))
            m = Conv2DOptions if spec.op == "CONV_2D" else DepthwiseConv2DOptions
            pre = "Conv2DOptions" if spec.op == "CONV_2D" else "DepthwiseConv2DOptions"
            getattr(m, pre + "Start")(b)
            getattr(m, pre + "AddPadding")(b, PADDINGS[o.get("padding", "VALID")])
            getattr(m, pre + "AddStrideW")(b, sw)
            getattr(m, pre + "AddStrideH")(b, sh)
            getattr(m, pre + "AddFusedActivationFunction")(b, act)
            getattr(m, pre + "AddDilationWFactor")(b, 1)
            getattr(m, pre + "AddDilationHFactor")(b, 1)
            if spec.op == "DEPTHWISE_CONV_2D":
                m.DepthwiseConv2DOptionsAddDepthMultiplier(b, o.get("depth_multiplier", 1))
            kind = BuiltinOptions.Conv2DOptions if spec.op == "CONV_2D" else BuiltinOptions.DepthwiseConv2DOptions
            return kind, getattr(m, pre + "End")(b)
        if spec.op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            sh, sw = o.get("stride", (1, 1))
            fh, fw = o["filter"]
            Pool2DOptions.Pool2DOptionsStart(b)
            Pool2DOptions.Pool2DOptionsAddPadding(b, PADDINGS[o.get("padding", "VALID")])
            Pool2DOptions.Pool2DOptionsAddStrideW(b, sw)
            Pool2DOptions.Pool2DOptionsAddStrideH(b, sh)
            Pool2DOptions.Pool2DOptionsAddFilterWidth(b, fw)
            Pool2DOptions.Pool2DOptionsAddFilterHeight(b, fh)
            Pool2DOptions.Pool2DOptionsAddFusedActivationFunction(b, act)
            return BuiltinOptions.Pool2DOptions, Pool2DOptions.Pool2DOptionsEnd(b)
        if spec.op == "FULLY_CONNECTED":
            FullyConnectedOptions.FullyConnectedOptionsStart(b)
            FullyConnectedOptions.FullyConnectedOptionsAddFusedActivationFunction(b, act)
            return BuiltinOptions.FullyConnectedOptions, FullyConnectedOptions.FullyConnectedOptionsEnd(b)
        if spec.op == "ADD":
            AddOptions.AddOptionsStart(b)
            AddOptions.AddOptionsAddFusedActivationFunction(b, act)
            return BuiltinOptions.AddOptions, AddOptions.AddOptionsEnd(b)
        if spec.op == "SOFTMAX":
            SoftmaxOptions.SoftmaxOptionsStart(b)
            SoftmaxOptions.SoftmaxOptionsAddBeta(b, float(o.get("beta", 1.0)))
            return BuiltinOptions.SoftmaxOptions, SoftmaxOptions.SoftmaxOptionsEnd(b)
        if spec.op == "RESHAPE":
            shape = self._ints(ReshapeOptions.ReshapeOptionsStartNewShapeVector, o["new_shape"])
            ReshapeOptions.ReshapeOptionsStart(b)
            ReshapeOptions.ReshapeOptionsAddNewShape(b, shape)
            return BuiltinOptions.ReshapeOptions, ReshapeOptions.ReshapeOptionsEnd(b)
        return BuiltinOptions.NONE, None     # PAD: the paddings are its second input

    def build(self) -> bytes:
        g, b = self.g, self.b
        codes = sorted({op.op for op in g.ops}, key=OPS.index)
        # buffer 0 is the empty sentinel TFLite expects; constant tensors get their own buffer
        buffers = [self._buffer(None)]
        tensor_offsets = []
        for t in g.tensors:
            buf_index = 0
            if t.data is not None:
                buffers.append(self._buffer(t.data.tobytes()))
                buf_index = len(buffers) - 1
            name = b.CreateString(t.name)
            shape = self._ints(Tensor.TensorStartShapeVector, t.shape)
            quant = self._quant(t)
            Tensor.TensorStart(b)
            Tensor.TensorAddShape(b, shape)
            Tensor.TensorAddType(b, DTYPES[t.dtype][0])
            Tensor.TensorAddBuffer(b, buf_index)
            Tensor.TensorAddName(b, name)
            if quant is not None:
                Tensor.TensorAddQuantization(b, quant)
            tensor_offsets.append(Tensor.TensorEnd(b))
        op_offsets = []
        for spec in g.ops:
            kind, options = self._options(spec)
            ins = self._ints(Operator.OperatorStartInputsVector, spec.inputs)
            outs = self._ints(Operator.OperatorStartOutputsVector, spec.outputs)
            Operator.OperatorStart(b)
            Operator.OperatorAddOpcodeIndex(b, codes.index(spec.op))
            Operator.OperatorAddInputs(b, ins)
            Operator.OperatorAddOutputs(b, outs)
            if options is not None:
                Operator.OperatorAddBuiltinOptionsType(b, kind)
                Operator.OperatorAddBuiltinOptions(b, options)
            op_offsets.append(Operator.OperatorEnd(b))
        tensors = self._offsets(SubGraph.SubGraphStartTensorsVector, tensor_offsets)
        operators = self._offsets(SubGraph.SubGraphStartOperatorsVector, op_offsets)
        inputs = self._ints(SubGraph.SubGraphStartInputsVector, g.inputs)
        outputs = self._ints(SubGraph.SubGraphStartOutputsVector, g.outputs)
        name = b.CreateString("main")
        SubGraph.SubGraphStart(b)
        SubGraph.SubGraphAddTensors(b, tensors)
        SubGraph.SubGraphAddInputs(b, inputs)
        SubGraph.SubGraphAddOutputs(b, outputs)
        SubGraph.SubGraphAddOperators(b, operators)
        SubGraph.SubGraphAddName(b, name)
        subgraph = SubGraph.SubGraphEnd(b)
        code_offsets = []
        for c in codes:
            code = getattr(BuiltinOperator, c)
            OperatorCode.OperatorCodeStart(b)
            OperatorCode.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            OperatorCode.OperatorCodeAddBuiltinCode(b, code)
            OperatorCode.OperatorCodeAddVersion(b, 1)
            code_offsets.append(OperatorCode.OperatorCodeEnd(b))
        opcodes = self._offsets(Model.ModelStartOperatorCodesVector, code_offsets)
        subgraphs = self._offsets(Model.ModelStartSubgraphsVector, [subgraph])
        buffer_vec = self._offsets(Model.ModelStartBuffersVector, buffers)
        desc = b.CreateString("tessera")
        Model.ModelStart(b)
        Model.ModelAddVersion(b, SCHEMA_VERSION)
        Model.ModelAddOperatorCodes(b, opcodes)
        Model.ModelAddSubgraphs(b, subgraphs)
        Model.ModelAddDescription(b, desc)
        Model.ModelAddBuffers(b, buffer_vec)
        b.Finish(Model.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())
