"""cffi build script (API mode, run at install by setup.py): the emulator's instruction-counting hook.

Unicorn's `emu_start(count=N)` never says how many instructions ran when the core
stops early; this 15-line C hook does the same job and exposes the counter (see
emulator/icount.py). No library offers it, so it is written here.

Usage: built by `pip install -e .` through setup.py's cffi_modules; imported as `emulator._icount`.
"""

from cffi import FFI

C_SOURCE = r"""
#include <stdint.h>
typedef int (*stop_fn)(void *);
struct icount { uint64_t count; uint64_t limit; stop_fn stop; uint64_t watch_base; uint64_t watch_size; uint8_t *watch;
                uint64_t pending; };
void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *ic) {
    if (++ic->count > ic->limit) { ic->stop(uc); return; }
    if (!ic->pending) return;  /* watched sites matter only while an interrupt is pending */
    uint64_t off = address - ic->watch_base;
    if (off < ic->watch_size && (ic->watch[off >> 4] >> ((off >> 1) & 7)) & 1) ic->limit = ic->count;
}
"""

ffibuilder = FFI()
ffibuilder.cdef("struct icount; void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *ic);")
ffibuilder.set_source("emulator._icount", C_SOURCE, extra_compile_args=["-O2"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
