"""cffi build script (API mode, run at install by setup.py): the emulator's instruction-counting hook.

Unicorn's `emu_start(count=N)` never says how many instructions ran when the core
stops early; this ~35-line C hook does the same job and exposes the counter (see
emulator/icount.py); it also stops the core right after marked instructions
while an interrupt is pending, and performs `mret` itself at marked sites (see
emulator/unicorn_core.py for why); when the profiler gives it a histogram, it counts the instructions run at
every halfword address of the window (emulator/profiler.py). No library offers it, so it is written here.

Usage: built by `pip install -e .` through setup.py's cffi_modules; imported as `emulator._icount`.
"""

from cffi import FFI

C_SOURCE = r"""
#include <stdint.h>
typedef int (*stop_fn)(void *);
typedef int (*reg_fn)(void *, int, void *);
struct icount { uint64_t count; uint64_t limit; stop_fn stop; uint64_t watch_base; uint64_t watch_size; uint8_t *watch;
                uint64_t pending; uint8_t *mret; reg_fn reg_read; reg_fn reg_write;
                int32_t reg_mstatus, reg_mepc, reg_pc; uint32_t mstatus_mie, mstatus_mpie, mstatus_mpp;
                uint64_t mrets; uint64_t *hist; };
/* mret as on a hart without U-mode: MIE <- MPIE, MPIE <- 1, MPP stays M, PC <- mepc. Writing the PC from a
   code hook makes Unicorn drop the current instruction and resume at the new PC; it stays counted. */
static void do_mret(void *uc, struct icount *ic) {
    uint32_t ms = 0, epc = 0;
    ic->reg_read(uc, ic->reg_mstatus, &ms);
    ic->reg_read(uc, ic->reg_mepc, &epc);
    ms = (ms & ~ic->mstatus_mie) | ((ms & ic->mstatus_mpie) ? ic->mstatus_mie : 0) | ic->mstatus_mpie | ic->mstatus_mpp;
    ic->reg_write(uc, ic->reg_mstatus, &ms);
    epc &= ~1u;
    ic->mrets++;
    if (ic->pending && ic->limit > ic->count) ic->limit = ic->count;  /* may be deliverable now: stop at mepc */
    ic->reg_write(uc, ic->reg_pc, &epc);
}
void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *ic) {
    if (++ic->count > ic->limit) { ic->stop(uc); return; }
    uint64_t off = address - ic->watch_base;
    if (off >= ic->watch_size) return;
    if (ic->hist) ic->hist[off >> 1]++;   /* the profiler: instructions run per halfword address */
    unsigned bit = (off >> 1) & 7;
    if ((ic->mret[off >> 4] >> bit) & 1) { do_mret(uc, ic); return; }
    /* watched sites matter only while an interrupt is pending */
    if (ic->pending && (ic->watch[off >> 4] >> bit) & 1) ic->limit = ic->count;
}
"""

ffibuilder = FFI()
ffibuilder.cdef("struct icount; void icount_hook(void *uc, uint64_t address, uint32_t size, struct icount *ic);")
ffibuilder.set_source("emulator._icount", C_SOURCE, extra_compile_args=["-O2"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
