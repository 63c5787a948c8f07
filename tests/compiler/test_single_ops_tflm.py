"""Single-operator int8 TFLite models (built with tests/support/tflite_ops.py) through the whole compiler:
import -> lower -> stream on the accelerator, byte-equal to TensorFlow Lite Micro, on hypothesis shapes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asic_model.profiles import PROFILE_NAMES, load_profile
from compiler.lower import lower
from compiler.runner import StreamRunner
from compiler.tflite_import import import_tflite
from tests.support import tflite_ops as ops

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ACTS = st.sampled_from([None, "RELU", "RELU6"])
PROFILES = st.sampled_from(PROFILE_NAMES)


def _check(m: ops.OpModel, profile: str, seed: int) -> None:
    model = import_tflite(m.tflite, name=m.op)
    x = np.random.default_rng(seed).integers(-128, 128, m.input_shapes[0], dtype=np.int8)
    runner = StreamRunner(load_profile(profile))
    runner.load(lower(model, load_profile(profile)).image)
    got = runner.run(x.reshape(1, -1)).reshape(m.output.shape)
    assert np.array_equal(got, m.run(x))


@SETTINGS
@given(h=st.integers(1, 14), w=st.integers(1, 14), c=st.integers(1, 12), cout=st.integers(1, 24),
       k=st.integers(1, 5), s=st.integers(1, 3), same=st.booleans(), act=ACTS, profile=PROFILES, seed=st.integers(0, 999))
def test_conv2d(h, w, c, cout, k, s, same, act, profile, seed):
    assume(same or (h >= k and w >= k))
    _check(ops.conv2d_model((h, w, c), cout, kernel=(k, k), stride=(s, s), padding="SAME" if same else "VALID",
                            activation=act, seed=seed), profile, seed)


@SETTINGS
@given(h=st.integers(1, 14), w=st.integers(1, 14), c=st.integers(1, 12), dm=st.integers(1, 3), k=st.integers(1, 5),
       s=st.integers(1, 3), same=st.booleans(), act=ACTS, profile=PROFILES, seed=st.integers(0, 999))
def test_depthwise(h, w, c, dm, k, s, same, act, profile, seed):
    assume(same or (h >= k and w >= k))
    _check(ops.depthwise_model((h, w, c), kernel=(k, k), stride=(s, s), padding="SAME" if same else "VALID",
                               depth_multiplier=dm, activation=act, seed=seed), profile, seed)


@SETTINGS
@given(h=st.integers(1, 14), w=st.integers(1, 14), c=st.integers(1, 12), k=st.integers(1, 4), s=st.integers(1, 3),
       same=st.booleans(), avg=st.booleans(), profile=PROFILES, seed=st.integers(0, 999))
def test_pools(h, w, c, k, s, same, avg, profile, seed):
    assume(same or (h >= k and w >= k))
    build = ops.avgpool_model if avg else ops.maxpool_model
    _check(build((h, w, c), kernel=(k, k), stride=(s, s), padding="SAME" if same else "VALID", seed=seed),
           profile, seed)


@SETTINGS
@given(k=st.integers(1, 300), n=st.integers(1, 200), act=ACTS, profile=PROFILES, seed=st.integers(0, 999))
def test_fully_connected(k, n, act, profile, seed):
    _check(ops.fully_connected_model(k, n, activation=act, seed=seed), profile, seed)


@SETTINGS
@given(c=st.integers(1, 100), beta=st.sampled_from([1.0, 0.5, 2.0]), profile=PROFILES, seed=st.integers(0, 999))
def test_softmax(c, beta, profile, seed):
    _check(ops.softmax_model((1, c), beta=beta, seed=seed), profile, seed)


def test_layers_larger_than_sram_equal_tflm():
    """On tiny (64 KiB SRAM): an 80x80x8 convolution and depthwise convolution, spilled and tiled."""
    _check(ops.conv2d_model((80, 80, 8), 16, kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU", seed=4),
           "tiny", 4)
    _check(ops.depthwise_model((80, 80, 12), kernel=(3, 3), stride=(2, 2), padding="SAME", seed=5), "tiny", 5)
