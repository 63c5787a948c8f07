"""The MLPerf Tiny reference networks on the device: compiled firmware on the emulator, bit-exact with TFLite Micro.

Each shared model (FC autoencoder, DS-CNN, ResNet-8) is compiled for a profile, written into
the device's DRAM and bound with LOAD_MODEL, then 20 random int8 inputs run as one RUN job of
20 rows (the firmware executes the v2 command stream once per row); every output byte must equal
TFLite Micro's. All through protocol requests on the real compiled firmware, as hostd does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from compiler import compile_tflite
from compiler.tflite_import import import_tflite
from tests.compiler.conftest import INPUTS_PER_MODEL, MODEL_FILES, random_inputs, tflm_outputs
from tests.firmware.device import hostops
from tests.firmware.device.conftest import firmware_elf, open_device  # noqa: F401 - the session fixture

PROFILES = ("tiny", "edge-v1", "edge-v2")
HASH_SLICE = slice(52, 84)          # the header's hash field (docs/model-format.md)
JOB_DONE = 2                        # protocol JOB_DONE state
JOB_TIMEOUT = 900.0                 # wall seconds for 20 inferences on a loaded 2-core machine (about 30 s alone)


@dataclass
class _Bound:
    """What hostops.load_model needs of a model: the image, its CRC and its hash."""

    image: bytes

    @property
    def crc(self) -> int:
        return zlib.crc32(self.image)

    @property
    def hash(self) -> bytes:
        return bytes(self.image[HASH_SLICE])


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(MODEL_FILES))
def test_mlperf_model_on_device_equals_tflm(mlperf_dir, firmware_elf, name, profile):
    path = mlperf_dir / MODEL_FILES[name]
    model = import_tflite(path)
    shape = model.tensors[model.input].shape
    xs = random_inputs(shape, seed=zlib.crc32(f"{name}/{profile}".encode()))
    ref = np.stack([y.reshape(-1) for y in tflm_outputs(path, xs)])
    lowered = compile_tflite(path, profile, max_rows=INPUTS_PER_MODEL)
    with open_device("compiled", firmware_elf, profile=profile) as dev:
        slot = hostops.load_model(dev, hostops.MODEL_BASE, _Bound(lowered.image))
        hostops.upload(dev, hostops.MODEL_BASE + lowered.input_offset,
                       np.stack([x.reshape(-1) for x in xs]).astype(np.int8).tobytes())
        job = hostops.run_job(dev, slot, INPUTS_PER_MODEL, timeout=JOB_TIMEOUT)
        assert job["state"] == JOB_DONE, job
        raw = hostops.download(dev, hostops.MODEL_BASE + lowered.output_offset,
                               INPUTS_PER_MODEL * lowered.output_bytes)
    out = np.frombuffer(raw, np.int8).reshape(INPUTS_PER_MODEL, -1)
    diff = np.flatnonzero((out != ref).any(axis=1))
    assert diff.size == 0, f"{name} on {profile}: inputs {diff.tolist()} differ from TFLite Micro"
