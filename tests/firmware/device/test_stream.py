"""Model images of format version 2 (command streams) through the serial line, in both modes: a DMA -> GEMM -> DMA
stream per row bit-exact with numpy, every LOAD_MODEL v2 validation error with its exact detail, a DMA out of
bounds failing the job with its layer, PING / JOB_STATUS / CANCEL answered during a long stream."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from asic_model.soc_map import CONSTANTS
from firmware import protocol_v1 as P
from firmware.regs import DMA, SYSCTL, TENSOR, VECTOR
from compiler.model_format import model_hash
from hostd.protocol import ErrSource, Fault, Frame, FrameDecoder, JobState, ModelErr, MsgType, Nack, encode_frame

from tests.firmware.device.hostops import MODEL_BASE, download, load_model, load_request, run_job, upload
from tests.firmware.device.modelgen import make_model
from tests.firmware.device.v2image import Command, Stream, V2Header, build_v2, gemm_reference, gemm_stream_image

ERR_BOUNDS = CONSTANTS["ERR_BOUNDS"].value
ERR_SHAPE = CONSTANTS["ERR_SHAPE"].value
LONG_STREAM = 6000                 # harmless register writes ahead of the GEMM: a job of many main-loop passes
CMD_OFFSET_FIELD, CMD_COUNT_FIELD, SRAM_BYTES_FIELD = 84, 88, 92
TINY_SRAM = 64 * 1024


def nack_of(frame):
    assert frame.type == MsgType.NACK, frame
    return frame.payload["reason"], frame.payload["detail"]


def model(seed=1, k=24, n=16, rows=4, **kw):
    return gemm_stream_image(np.random.default_rng(seed), k=k, n=n, max_rows=rows, **kw)


def infer_v2(dev, slot, m, x):
    upload(dev, MODEL_BASE + m.input_offset, np.ascontiguousarray(x, np.int8).tobytes())
    job = run_job(dev, slot, len(x))
    y = np.frombuffer(download(dev, MODEL_BASE + m.output_offset, len(x) * m.out_cols), np.int8)
    return y.reshape(len(x), m.out_cols), job


def test_gemm_stream_bit_exact_over_rows(dev):
    m = model(seed=2, k=40, n=24, rows=6)
    upload(dev, MODEL_BASE, m.image)
    r = load_request(dev, MODEL_BASE, m)
    assert r.payload == {"slot": 0, "cached": 0, "layers": 1, "max_rows": 6, "reserved": 0, "footprint": m.footprint}
    for rows, seed in ((6, 1), (3, 2)):
        x = np.random.default_rng(seed).integers(-128, 128, (rows, m.in_cols), dtype=np.int8)
        y, job = infer_v2(dev, 0, m, x)
        assert np.array_equal(y, gemm_reference(x, m.params)), (y, gemm_reference(x, m.params))
        assert (job["state"], job["error"], job["rows"], job["failed_layer"]) == (JobState.DONE, 0, rows, 0)
        assert job["macs"] == rows * 40 * 24 and job["cycles"] > 0
    assert load_request(dev, MODEL_BASE, m).payload["cached"] == 1
    # a v1 model beside it still runs on the v1 engine
    v1 = make_model(np.random.default_rng(5), [32, 16], max_rows=4)
    v1_base = MODEL_BASE + 0x10000
    slot = load_model(dev, v1_base, v1)
    x1 = np.random.default_rng(6).integers(-128, 128, (4, 32), dtype=np.int8)
    for _ in range(2):              # v1 weights resident in SRAM, then a stream overwrites SRAM, then v1 again
        upload(dev, v1_base + v1.input_offset, x1.tobytes())
        assert run_job(dev, slot, 4)["state"] == JobState.DONE
        assert np.array_equal(np.frombuffer(download(dev, v1_base + v1.output_offset, 64), np.int8).reshape(4, 16),
                              v1.reference(x1))
        assert np.array_equal(infer_v2(dev, 0, m, x)[0], gemm_reference(x, m.params))


def _cmds(image: bytes) -> list:
    h = V2Header.parse(image)
    raw = image[h.cmd_offset:h.cmd_offset + P.CMD_SIZE * h.cmd_count]
    return [{k: v for k, v in Command.parse(raw[i:i + P.CMD_SIZE]).items() if k != "_io"}
            for i in range(0, len(raw), P.CMD_SIZE)]


def _with_cmd(image: bytes, index: int, **fields) -> bytes:
    """The image with command `index` changed (hash recomputed, so only that check fails)."""
    h = V2Header.parse(image)
    cmds = _cmds(image)
    cmds[index].update(fields)
    hdr = {k: v for k, v in h.items() if k not in ("_io", "magic")}
    return build_v2(hdr, image[P.MODEL_HEADER_SIZE:h.cmd_offset], cmds, cmd_offset=h.cmd_offset)


def _try(dev, image: bytes, base=MODEL_BASE):
    upload(dev, base, image)
    return dev.request(MsgType.REQ_LOAD_MODEL, {"base": base, "image_size": len(image),
                                                "image_crc": zlib.crc32(image), "hash": image[52:84]})


def _patch(image: bytes, off: int, fmt: str, value) -> bytes:
    """A raw header patch with the hash recomputed."""
    img = bytearray(image)
    struct.pack_into(fmt, img, off, value)
    return bytes(img[:52]) + model_hash(bytes(img)) + bytes(img[84:])


def test_v2_validation_errors_in_order(dev):
    m = model(seed=3, layers=2)
    n_cmds = len(_cmds(m.image))
    first_write = 2                                   # after the two CMD_LAYER markers
    wait_idx = next(i for i, c in enumerate(_cmds(m.image)) if c["op"] == P.CMD_WAIT)
    dma_ctrl = DMA.CH0_CTRL.addr
    cases = [
        (_patch(m.image, 4, "<H", 3), 0, ModelErr.VERSION),
        (_patch(m.image, 10, "<H", P.LAYER_ENTRY_SIZE), 0, ModelErr.SIZE),       # v2 entries are CMD_SIZE
        (_patch(m.image, 8, "<H", 0), 0, ModelErr.LAYERS),
        (_patch(m.image, 8, "<H", P.MAX_LAYERS_V2 + 1), 0, ModelErr.LAYERS),
        (_patch(m.image, 22, "<H", 2), 0, ModelErr.PROFILE),                    # tiny has one DMA channel
        (_patch(m.image, SRAM_BYTES_FIELD, "<I", TINY_SRAM + 1), 0, ModelErr.PROFILE),
        (_patch(m.image, CMD_OFFSET_FIELD, "<I", P.MODEL_HEADER_SIZE + 2), 0, ModelErr.RANGE),   # not 4-aligned
        (_patch(m.image, CMD_OFFSET_FIELD, "<I", 92), 0, ModelErr.RANGE),                      # inside the header
        (_patch(m.image, CMD_COUNT_FIELD, "<I", 0), 0, ModelErr.RANGE),
        (_patch(m.image, CMD_COUNT_FIELD, "<I", n_cmds + 1), 0, ModelErr.RANGE),               # past the image
        (_patch(m.image, 20, "<H", 0), 0, ModelErr.RANGE),                                     # max_rows 0
        (_patch(m.image, 24, "<I", m.footprint - 8), 0, ModelErr.RANGE),                       # input leaves it
        (_patch(m.image, 32, "<I", m.footprint), 0, ModelErr.RANGE),                           # output leaves it
        (_with_cmd(m.image, 5, op=9), 5, ModelErr.OP),
        (_with_cmd(m.image, 0, reloc=1), 0, ModelErr.OP),                   # CMD_LAYER with a reserved field set
        (_with_cmd(m.image, wait_idx, value=1), wait_idx, ModelErr.OP),
        (_with_cmd(m.image, first_write, arg=1), first_write, ModelErr.OP),
        (_with_cmd(m.image, first_write, addr=dma_ctrl + 2), first_write, ModelErr.CMD),          # unaligned
        (_with_cmd(m.image, first_write, addr=SYSCTL.RESET.addr), first_write, ModelErr.CMD),     # not a unit
        (_with_cmd(m.image, first_write, addr=DMA.CH1_SRC.addr), first_write, ModelErr.CMD),      # undeclared channel
        (_with_cmd(m.image, first_write, addr=DMA.CH0_STATUS.addr + 4), first_write, ModelErr.CMD),   # channel gap
        (_with_cmd(m.image, first_write, addr=TENSOR.base + TENSOR.size), first_write, ModelErr.CMD),  # past TENSOR
        (_with_cmd(m.image, first_write, addr=VECTOR.base + VECTOR.size), first_write, ModelErr.CMD),
        (_with_cmd(m.image, first_write, reloc=4), first_write, ModelErr.CMD),
        (_with_cmd(m.image, wait_idx, arg=0), wait_idx, ModelErr.CMD),
        (_with_cmd(m.image, wait_idx, arg=0x40), wait_idx, ModelErr.CMD),
        (_with_cmd(m.image, wait_idx, arg=0x02), wait_idx, ModelErr.CMD),   # DMA channel 1: not declared
        (_with_cmd(m.image, 1, arg=2), 1, ModelErr.CMD),                    # CMD_LAYER index >= layer_count
    ]
    for image, index, code in cases:
        assert nack_of(_try(dev, image)) == (Nack.BAD_MODEL, index << 16 | code), (index, code)
    # the VECTOR block and its WAIT bit are accepted
    vec = _with_cmd(_with_cmd(m.image, first_write, addr=VECTOR.base + VECTOR.size - 4), wait_idx,
                    arg=P.WAIT_VECTOR | P.WAIT_TENSOR | 1)
    ok = _try(dev, vec)
    assert ok.type == MsgType.RSP_LOAD_MODEL and ok.payload["layers"] == 2, ok
    assert _try(dev, m.image).payload["cached"] == 0


def test_stream_changed_after_load_fails_the_job_on_both_fetch_paths(dev):
    """The interpreter reads each command once (three words when the stream is word-aligned, else bytes) and
    re-checks it: a stream rewritten in DRAM after LOAD_MODEL fails the job, and the unchanged stream runs."""
    m = model(seed=8, rows=2)
    first_write = next(i for i, c in enumerate(_cmds(m.image)) if c["op"] == P.CMD_WRITE)
    h = V2Header.parse(m.image)
    x = np.random.default_rng(4).integers(-128, 128, (2, m.in_cols), dtype=np.int8)
    for base in (MODEL_BASE, MODEL_BASE + 0x20001):       # word-aligned commands, then byte-aligned ones
        upload(dev, base, m.image)
        slot = load_request(dev, base, m).payload["slot"]
        upload(dev, base + m.input_offset, x.tobytes())
        assert run_job(dev, slot, 2)["state"] == JobState.DONE
        y = np.frombuffer(download(dev, base + m.output_offset, 2 * m.out_cols), np.int8).reshape(2, -1)
        assert np.array_equal(y, gemm_reference(x, m.params))
        addr_field = base + h.cmd_offset + first_write * P.CMD_SIZE + 4
        upload(dev, addr_field, struct.pack("<I", SYSCTL.RESET.addr))   # not a unit register
        job = run_job(dev, slot, 2)
        assert (job["state"], job["error"], job["error_source"]) == (JobState.FAILED, ERR_SHAPE, ErrSource.FIRMWARE)
        assert not any(e.type == MsgType.EVT_BOOT for e in dev.events[1:])      # the write never reached SYSCTL


def test_dma_out_of_bounds_fails_the_job_in_its_layer(dev):
    bad = Stream().layer(2).dma(0, 0x0000_0010, 16, src_reloc=P.RELOC_INPUT)      # destination in flash: ERR_BOUNDS
    m = model(seed=4, layers=3, tail=bad)
    upload(dev, MODEL_BASE, m.image)
    slot = load_request(dev, MODEL_BASE, m).payload["slot"]
    x = np.random.default_rng(1).integers(-128, 128, (3, m.in_cols), dtype=np.int8)
    upload(dev, MODEL_BASE + m.input_offset, x.tobytes())
    job = run_job(dev, slot, 3)
    assert (job["state"], job["error"], job["error_source"], job["failed_layer"]) == \
        (JobState.FAILED, ERR_BOUNDS, ErrSource.DMA, 2)
    fault = [e for e in dev.events if e.type == MsgType.EVT_FAULT]
    assert fault and fault[-1].payload["code"] == Fault.DMA and fault[-1].payload["detail"] == ERR_BOUNDS
    assert fault[-1].payload["job_id"] == job["job_id"]
    # row 0's output was written before the failing transfer; the device is ready for the next job
    y0 = np.frombuffer(download(dev, MODEL_BASE + m.output_offset, m.out_cols), np.int8)
    assert np.array_equal(y0, gemm_reference(x[:1], m.params)[0])
    good = model(seed=5)
    upload(dev, MODEL_BASE + 0x10000, good.image)
    gslot = load_request(dev, MODEL_BASE + 0x10000, good).payload["slot"]
    x2 = np.random.default_rng(2).integers(-128, 128, (4, good.in_cols), dtype=np.int8)
    upload(dev, MODEL_BASE + 0x10000 + good.input_offset, x2.tobytes())
    assert run_job(dev, gslot, 4)["state"] == JobState.DONE
    y2 = np.frombuffer(download(dev, MODEL_BASE + 0x10000 + good.output_offset, 4 * good.out_cols), np.int8)
    assert np.array_equal(y2.reshape(4, -1), gemm_reference(x2, good.params))


def _long_model():
    filler = Stream()
    for i in range(LONG_STREAM):
        filler.write(TENSOR.M, i + 1)                 # harmless: the GEMM's own M write comes after
    return model(seed=7, extra=filler)


def _decode(raw: bytes):
    return [f for f in FrameDecoder().feed(bytes(raw)) if isinstance(f, Frame)]


def test_ping_status_and_cancel_answered_during_a_long_stream(dev):
    m = _long_model()
    upload(dev, MODEL_BASE, m.image)
    slot = load_request(dev, MODEL_BASE, m).payload["slot"]
    x = np.random.default_rng(3).integers(-128, 128, (2, m.in_cols), dtype=np.int8)
    upload(dev, MODEL_BASE + m.input_offset, x.tobytes())
    # RUN, PING and JOB_STATUS back to back: they reach the device within a few ms of virtual time, the job takes
    # many main-loop passes (LONG_STREAM commands per row)
    start = len(dev.raw)
    dev.send(encode_frame(MsgType.REQ_RUN, 100, {"slot": slot, "flags": 0, "rows": 2})
             + encode_frame(MsgType.REQ_PING, 101, {"data": b"still here"})
             + encode_frame(MsgType.REQ_JOB_STATUS, 102, {"job_id": 1}))
    done = dev.wait_event(MsgType.EVT_JOB_DONE)
    dev.take(lambda f: f.seq == 102)
    order = [(f.type, f.seq) for f in _decode(dev.raw[start:])]
    assert order[:4] == [(MsgType.RSP_RUN, 100), (MsgType.RSP_PING, 101), (MsgType.RSP_JOB_STATUS, 102),
                         (MsgType.EVT_JOB_DONE, done.seq)], order
    status = [f for f in _decode(dev.raw[start:]) if f.seq == 102][0].payload
    assert status["state"] == JobState.RUNNING and status["job_id"] == 1
    assert done.payload["state"] == JobState.DONE
    y = np.frombuffer(download(dev, MODEL_BASE + m.output_offset, 2 * m.out_cols), np.int8).reshape(2, -1)
    assert np.array_equal(y, gemm_reference(x, m.params))
    # a CANCEL during the stream stops it; the next job is correct
    dev.send(encode_frame(MsgType.REQ_RUN, 110, {"slot": slot, "flags": 0, "rows": 2})
             + encode_frame(MsgType.REQ_CANCEL, 111, {"job_id": 2}))
    c = dev.take(lambda f: f.seq == 111)
    assert c.payload["state"] == JobState.CANCELLED and c.payload["job_id"] == 2
    assert dev.wait_event(MsgType.EVT_JOB_DONE, 2).payload["state"] == JobState.CANCELLED
    assert run_job(dev, slot, 1)["state"] == JobState.DONE
    y1 = np.frombuffer(download(dev, MODEL_BASE + m.output_offset, m.out_cols), np.int8)
    assert np.array_equal(y1, gemm_reference(x[:1], m.params)[0])
