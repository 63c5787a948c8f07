"""Host <-> device serial protocol, version 1: every number both sides share, declared once.

The device firmware imports these names directly (constrained Python: ints only,
each one a `const`); the host daemon (`hostd/protocol.py`) derives its enums and
construct declarations from this module at import time. The prose specification
is docs/protocol.md; the model image format is docs/model-format.md.

Usage (firmware):  from firmware.protocol_v1 import REQ_PING, NACK_BAD_CRC, MAX_PAYLOAD
Usage (host):      from hostd.protocol import MsgType, Nack   # enums built from this file

Name prefixes (hostd groups by them): REQ_ request types, EVT_ device events,
NACK_ reject reasons, FLAG_ header flags, JOB_ job states, ERRSRC_ job error
sources, FAULT_ fault codes, TLM_ telemetry counter indices, MODEL_ model image
format, LAYER_ layer-table values, MODEL_ERR_ model validation failures.
"""

from firmware.rt import const

# ---------------------------------------------------------------- framing
PROTOCOL_VERSION = const(1)
FRAME_DELIMITER = const(0x00)       # COBS-encoded frames are separated by one zero byte
HEADER_SIZE = const(8)              # version u8, type u8, flags u8, reserved u8, seq u16, length u16
CRC_SIZE = const(4)                 # CRC32 (IEEE, zlib.crc32) of header + payload, little-endian
MAX_PAYLOAD = const(1024)           # largest payload; the device's static buffers are sized from it
MAX_FRAME = const(1036)             # HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE, before COBS
MAX_ENCODED = const(1042)           # MAX_FRAME + COBS overhead (MAX_FRAME // 254 + 1) + delimiter
MEM_CHUNK = const(1016)             # largest MEM_WRITE / MEM_READ data block (fits with its address)
SEQ_MODULUS = const(0x10000)        # sequence numbers are u16 and wrap

# ---------------------------------------------------------------- header flags
FLAG_RETRY = const(0x01)            # host: this request is a retransmission of the same seq
FLAG_REPLAY = const(0x02)           # device: this response is the stored answer to a repeated seq
FLAGS_VALID = const(0x03)           # any other flag bit set -> NACK_BAD_HEADER

# ---------------------------------------------------------------- message types
RESPONSE_BIT = const(0x80)          # the response to request type T has type T | RESPONSE_BIT
REQ_PING = const(0x01)              # echo the payload
REQ_INFO = const(0x02)              # firmware, build, revision profile, boot counter
REQ_MEM_WRITE = const(0x03)         # write bytes into the host window of DRAM
REQ_MEM_READ = const(0x04)          # read bytes from the host window of DRAM
REQ_LOAD_MODEL = const(0x05)        # validate a model image in DRAM and bind it to a slot
REQ_RUN = const(0x06)               # start a job on a loaded model; JOB_DONE follows
REQ_JOB_STATUS = const(0x07)        # the record of a recent job
REQ_CANCEL = const(0x08)            # abort a running job
REQ_TELEMETRY = const(0x09)         # all counters
REQ_RESET = const(0x0A)             # answer, then reset the core (a BOOT event follows)
REQ_LOG = const(0x0B)               # read the device's log ring from a cursor
REQ_UNLOAD_MODEL = const(0x0C)      # free a model slot
EVT_BOOT = const(0x40)              # device booted: boot counter, reset cause
EVT_JOB_DONE = const(0x41)          # a job finished (done, failed or cancelled)
EVT_FAULT = const(0x42)             # a fault the device survived (ECC, DMA, trap, overrun)
TYPE_NACK = const(0xFF)             # a request was rejected; payload says why

# ---------------------------------------------------------------- NACK reasons
NACK_BAD_CRC = const(1)             # CRC32 mismatch (detail: CRC computed by the device)
NACK_BAD_LENGTH = const(2)          # frame too short/long or header length != payload bytes (detail: bytes seen)
NACK_BAD_VERSION = const(3)         # header version != PROTOCOL_VERSION (detail: version seen)
NACK_UNKNOWN_TYPE = const(4)        # no such request type (detail: type seen)
NACK_BAD_FRAMING = const(5)         # COBS decoding failed or frame longer than MAX_ENCODED
NACK_BAD_HEADER = const(6)          # reserved byte non-zero or unknown flag bits (detail: flags << 8 | reserved)
NACK_BAD_PAYLOAD = const(7)         # payload size or a field invalid for this type (detail: expected size)
NACK_OUT_OF_WINDOW = const(8)       # address range outside the host DRAM window (detail: offending address)
NACK_BUSY = const(9)                # a job is running; RUN/LOAD_MODEL/UNLOAD_MODEL refused
NACK_NO_MODEL = const(10)           # slot empty or hash not loaded (detail: slot)
NACK_BAD_MODEL = const(11)          # model image failed validation (detail: layer << 16 | MODEL_ERR_*)
NACK_UNKNOWN_JOB = const(12)        # no record of that job id (detail: job id)
NACK_NO_SLOT = const(13)            # all MAX_MODELS slots are in use
NACK_BAD_ROWS = const(14)           # RUN rows is 0 or above the model's max_rows (detail: max_rows)
NACK_INTERNAL = const(15)           # firmware invariant broken; the device logs it

# ---------------------------------------------------------------- limits
HOST_WINDOW_BASE = const(0x40000000)    # = DRAM base (asic_model.soc_map MEMORY["DRAM"])
HOST_WINDOW_SIZE = const(0x00800000)    # 8 MiB; the usable window is min(this, the profile's DRAM size)
MAX_MODELS = const(4)               # model slots on the device
JOB_HISTORY = const(4)              # job records the device keeps for JOB_STATUS
LOG_CHUNK = const(512)              # largest LOG response data block

# ---------------------------------------------------------------- jobs
JOB_RUNNING = const(1)
JOB_DONE = const(2)
JOB_FAILED = const(3)
JOB_CANCELLED = const(4)
ERRSRC_NONE = const(0)              # job error sources; the error code is an ERR_* of soc_map
ERRSRC_DMA = const(1)
ERRSRC_TENSOR = const(2)
ERRSRC_FIRMWARE = const(3)
ERRSRC_WATCHDOG = const(4)
ERRSRC_VECTOR = const(5)            # v2 streams: the VECTOR unit

# ---------------------------------------------------------------- faults (EVT_FAULT code)
FAULT_ECC = const(1)                # detail: ECC_ADDR
FAULT_DMA = const(2)                # detail: channel << 8 | ERR_*
FAULT_TENSOR = const(3)             # detail: ERR_*
FAULT_WDT_WARN = const(4)           # watchdog pre-timeout warning
FAULT_TRAP = const(5)               # unexpected trap (detail: mcause, addr: mepc)
FAULT_UART_OVERRUN = const(6)       # received bytes were dropped (detail: bytes lost so far)
FAULT_PANIC = const(7)              # firmware panic (detail: panic code, addr: location id); a watchdog reset follows
FAULT_VECTOR = const(8)             # vector-unit error or hang (detail: ERR_*), v2 streams

# ---------------------------------------------------------------- telemetry counter indices (u64 each)
TLM_CYCLES = const(0)               # 0..14: the PERF block counters, in soc_map PERF order
TLM_TC_BUSY = const(1)
TLM_DMA_BUSY = const(2)
TLM_OVERLAP = const(3)
TLM_MACS = const(4)
TLM_DMA_TO_SRAM = const(5)
TLM_DMA_TO_DRAM = const(6)
TLM_SRAM_RD = const(7)
TLM_SRAM_WR = const(8)
TLM_DRAM_RD = const(9)
TLM_DRAM_WR = const(10)
TLM_SPILLS = const(11)
TLM_SPILL_BYTES = const(12)
TLM_ENERGY_NJ = const(13)
TLM_TC_SRAM_RD = const(14)          # tensor-core SRAM reads (SRAM hit rate)
TLM_FRAMES_RX = const(15)           # 15..: firmware counters
TLM_FRAMES_TX = const(16)
TLM_CRC_ERRORS = const(17)
TLM_FRAMING_ERRORS = const(18)
TLM_NACKS_SENT = const(19)
TLM_REPLAYS = const(20)
TLM_EVENTS_SENT = const(21)
TLM_JOBS_DONE = const(22)
TLM_JOBS_FAILED = const(23)
TLM_JOBS_CANCELLED = const(24)
TLM_UART_OVERRUNS = const(25)
TLM_BOOT_COUNT = const(26)
TLM_UPTIME_CYCLES = const(27)       # TIMER.MTIME
TLM_COUNT = const(28)

# ---------------------------------------------------------------- model image (docs/model-format.md)
MODEL_MAGIC = const(0x444D5354)     # b"TSMD" read as a little-endian u32
MODEL_FORMAT_VERSION = const(1)
MODEL_HEADER_SIZE = const(96)
MODEL_HASH_SIZE = const(32)         # SHA-256
LAYER_ENTRY_SIZE = const(48)
MAX_LAYERS = const(32)
LAYER_OP_GEMM = const(1)
LAYER_FLAG_RELU = const(0x01)       # TENSOR.CTRL.RELU
LAYER_FLAG_RAW32 = const(0x02)      # TENSOR.CTRL.RAW32: output is the int32 accumulator
LAYER_FLAG_BIAS = const(0x04)       # TENSOR.CTRL.BIAS_EN
LAYER_FLAGS_VALID = const(0x07)
MODEL_ERR_MAGIC = const(1)
MODEL_ERR_VERSION = const(2)
MODEL_ERR_SIZE = const(3)           # image_size, header_size or entry size disagree
MODEL_ERR_CRC = const(4)            # CRC32 of the image differs from LOAD_MODEL's
MODEL_ERR_HASH = const(5)           # header hash differs from LOAD_MODEL's
MODEL_ERR_LAYERS = const(6)         # layer count 0 or above MAX_LAYERS
MODEL_ERR_OP = const(7)             # unknown op or flag bits (detail carries the layer)
MODEL_ERR_SHAPE = const(8)          # M, N or K is 0 or above TC_MAX_DIM, or chain mismatch
MODEL_ERR_RANGE = const(9)          # an operand range leaves the model's footprint or the window
MODEL_ERR_PROFILE = const(10)       # v2: the plan needs more SRAM or DMA channels than the profile has
MODEL_ERR_CMD = const(11)           # v2: a command writes outside the DMA/TENSOR/VECTOR blocks or is malformed

# ---------------------------------------------------------------- model image v2: command stream (docs/model-format.md)
MODEL_FORMAT_V2 = const(2)
CMD_SIZE = const(12)
MAX_LAYERS_V2 = const(255)
MAX_CMDS = const(1048576)
CMD_WRITE = const(1)
CMD_WAIT = const(2)
CMD_LAYER = const(3)
RELOC_NONE = const(0)
RELOC_IMAGE = const(1)
RELOC_INPUT = const(2)
RELOC_OUTPUT = const(3)
WAIT_TENSOR = const(0x10)
WAIT_VECTOR = const(0x20)
WAIT_MASK_VALID = const(0x3F)       # DMA channels 0..3, TENSOR, VECTOR

