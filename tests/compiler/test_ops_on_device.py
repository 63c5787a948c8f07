"""Each operator alone, on generated shapes, through the compiled firmware on the emulator: byte-equal to TFLite Micro.

Single-operator int8 TFLite models (tests/support/tflite_ops.py) of hypothesis-drawn shapes —
strides, SAME/VALID padding, odd channel counts, kernels 1x1 to 5x5, fused activations, and
inputs larger than the tiny profile's SRAM so tiles spill — are compiled for the profile, loaded
into one device session and run through protocol requests (as hostd does); every output byte
must equal TFLite Micro's. The stream runner covers many more shapes without the firmware
(tests/compiler/test_stream_runner.py); these examples prove the firmware executes them alike.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asic_model.profiles import load_profile
from compiler import compile_tflite
from hostd.protocol import MsgType
from tests.compiler.test_on_device import JOB_DONE, JOB_TIMEOUT, _Bound
from tests.firmware.device import hostops
from tests.firmware.device.conftest import firmware_elf, open_device  # noqa: F401 - the session fixture
from tests.support import tflite_ops

PROFILE = "tiny"                    # the smallest SRAM: the large examples spill
EXAMPLES = 6                        # per operator: each is a compile, a LOAD_MODEL and a job on the emulator
ROWS = 2                            # inputs per example, one RUN
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

kernels = st.tuples(st.integers(1, 5), st.integers(1, 5))
strides = st.tuples(st.integers(1, 2), st.integers(1, 2))
paddings = st.sampled_from(("SAME", "VALID"))
activations = st.sampled_from((None, "RELU", "RELU6"))


@pytest.fixture(scope="module")
def device(firmware_elf):  # noqa: F811 - the fixture imported above
    dev = open_device("compiled", firmware_elf, profile=PROFILE)
    yield dev
    dev.close()


def _run_on_device(dev, model: tflite_ops.OpModel, seed: int) -> None:
    lowered = compile_tflite(model.tflite, PROFILE, max_rows=ROWS)
    rng = np.random.default_rng(seed)
    shape = model.input_shapes[0]
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(ROWS)]
    ref = np.stack([model.run(x).reshape(-1) for x in xs])
    slot = hostops.load_model(dev, hostops.MODEL_BASE, _Bound(lowered.image))
    try:
        hostops.upload(dev, hostops.MODEL_BASE + lowered.input_offset, np.stack([x.reshape(-1) for x in xs]).tobytes())
        job = hostops.run_job(dev, slot, ROWS, timeout=JOB_TIMEOUT)
        assert job["state"] == JOB_DONE, job
        raw = hostops.download(dev, hostops.MODEL_BASE + lowered.output_offset, ROWS * lowered.output_bytes)
    finally:
        r = dev.request(MsgType.REQ_UNLOAD_MODEL, {"slot": slot})
        assert r.type == MsgType.RSP_UNLOAD_MODEL, r
    out = np.frombuffer(raw, np.int8).reshape(ROWS, -1)
    assert np.array_equal(out, ref), f"{model.op} {model.options}: max |diff| {np.abs(out.astype(int) - ref).max()}"


def _seed(*parts) -> int:
    return zlib.crc32(repr(parts).encode())


@SETTINGS
@given(h=st.integers(3, 40), w=st.integers(3, 24), c=st.integers(1, 13), cout=st.integers(1, 19),
       kernel=kernels, stride=strides, padding=paddings, activation=activations)
def test_conv2d_on_device(device, h, w, c, cout, kernel, stride, padding, activation):
    m = tflite_ops.conv2d_model((h, w, c), cout, kernel=kernel, stride=stride, padding=padding,
                                activation=activation, seed=_seed(h, w, c, cout))
    _run_on_device(device, m, _seed("conv", h, w, c))


@SETTINGS
@given(h=st.integers(3, 48), w=st.integers(3, 24), c=st.integers(1, 33), kernel=kernels, stride=strides,
       padding=paddings, activation=activations)
def test_depthwise_on_device(device, h, w, c, kernel, stride, padding, activation):
    m = tflite_ops.depthwise_model((h, w, c), kernel=kernel, stride=stride, padding=padding, activation=activation,
                                   seed=_seed(h, w, c))
    _run_on_device(device, m, _seed("dw", h, w, c))


@SETTINGS
@given(h=st.integers(2, 64), w=st.integers(2, 32), c=st.integers(1, 40), kernel=kernels, stride=strides,
       padding=paddings, average=st.booleans())
def test_pool_on_device(device, h, w, c, kernel, stride, padding, average):
    build = tflite_ops.avgpool_model if average else tflite_ops.maxpool_model
    m = build((h, w, c), kernel=kernel, stride=stride, padding=padding, seed=_seed(h, w, c))
    _run_on_device(device, m, _seed("pool", h, w, c))


@SETTINGS
@given(rows=st.integers(1, 4), classes=st.integers(2, 40), beta=st.sampled_from((1.0, 0.5, 2.0)))
def test_softmax_on_device(device, rows, classes, beta):
    m = tflite_ops.softmax_model((1, rows, classes), beta=beta, seed=_seed(rows, classes))
    _run_on_device(device, m, _seed("softmax", rows, classes))


@SETTINGS
@given(k=st.integers(1, 700), n=st.integers(1, 300), activation=activations)
def test_fully_connected_on_device(device, k, n, activation):
    m = tflite_ops.fully_connected_model(k, n, activation=activation, seed=_seed(k, n))
    _run_on_device(device, m, _seed("fc", k, n))


def test_an_input_larger_than_sram_spills_and_stays_exact(device):
    """A 96x64x16 input (96 KiB) does not fit tiny's 64 KiB SRAM: the compiler tiles it through DRAM."""
    m = tflite_ops.conv2d_model((96, 64, 16), 8, kernel=(3, 3), padding="SAME", activation="RELU", seed=5)
    assert 96 * 64 * 16 > load_profile(PROFILE).sram_size
    _run_on_device(device, m, 5)
