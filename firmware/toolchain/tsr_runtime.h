/* Tessera firmware C runtime: the language's checked integer semantics as inline helpers.
 *
 * Written by hand (no library offers Python's floor division, checked narrowing and
 * shift-count rules for C). Every check is an unlikely branch to a cold, noreturn
 * tsr_fail_<kind>(location id) so clang keeps the hot path straight and hoists or
 * drops checks it can prove. Included by the C the emitter writes under build/.
 * Usage: #include "tsr_runtime.h" (after tessera_regs.h), then tsr_add_u32(a, b, loc) ...
 */
#ifndef TSR_RUNTIME_H
#define TSR_RUNTIME_H

#include <stdint.h>
#include <stdbool.h>

#define TSR_PANIC_OVERFLOW 0xE001u
#define TSR_PANIC_BOUNDS 0xE002u
#define TSR_PANIC_DIV_ZERO 0xE003u
#define TSR_PANIC_SHIFT 0xE004u
#define TSR_PANIC_CONVERSION 0xE005u
#define TSR_PANIC_UNHANDLED_TRAP 0xE006u
#define TSR_PANIC_ALIGN 0xE007u
#define TSR_PANIC_EXIT_CODE 0xEEu
#define TSR_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* the panic path (assembly, written by firmware/toolchain/cruntime.py): SCRATCH0 = code, SCRATCH1 = loc */
__attribute__((noreturn, cold)) void tsr_panic_at(uint32_t loc, uint32_t code);
/* one cold entry per implicit check kind: a failing site passes only its compact location id */
__attribute__((noreturn, cold, noinline)) void tsr_fail_overflow(uint32_t loc);
__attribute__((noreturn, cold, noinline)) void tsr_fail_bounds(uint32_t loc);
__attribute__((noreturn, cold, noinline)) void tsr_fail_div_zero(uint32_t loc);
__attribute__((noreturn, cold, noinline)) void tsr_fail_shift(uint32_t loc);
__attribute__((noreturn, cold, noinline)) void tsr_fail_conversion(uint32_t loc);
__attribute__((noreturn, cold, noinline)) void tsr_fail_align(uint32_t loc);
__attribute__((noreturn)) void tsr_poweroff(uint32_t code);

#define TSR_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* add, sub, mul, neg, floor div, floor mod, shifts and conversion for one type */
#define TSR_ARITH(N, T, BITS, MINV, MAXV, SIGNED) \
static inline T tsr_add_##N(T a, T b, uint32_t loc) { T r; if (TSR_UNLIKELY(__builtin_add_overflow(a, b, &r))) tsr_fail_overflow(loc); return r; } \
static inline T tsr_sub_##N(T a, T b, uint32_t loc) { T r; if (TSR_UNLIKELY(__builtin_sub_overflow(a, b, &r))) tsr_fail_overflow(loc); return r; } \
static inline T tsr_mul_##N(T a, T b, uint32_t loc) { T r; if (TSR_UNLIKELY(__builtin_mul_overflow(a, b, &r))) tsr_fail_overflow(loc); return r; } \
static inline T tsr_neg_##N(T a, uint32_t loc) { if (TSR_UNLIKELY(SIGNED ? a == (T)(MINV) : a != 0)) tsr_fail_overflow(loc); return (T)-a; } \
static inline T tsr_div_##N(T a, T b, uint32_t loc) { \
    if (TSR_UNLIKELY(b == 0)) tsr_fail_div_zero(loc); \
    if (!SIGNED) return (T)(a / b); \
    if (TSR_UNLIKELY(a == (T)(MINV) && b == (T)-1)) tsr_fail_overflow(loc); \
    T q = (T)(a / b); if ((T)(a % b) != 0 && ((a < 0) != (b < 0))) q--; return q; } \
static inline T tsr_mod_##N(T a, T b, uint32_t loc) { \
    if (TSR_UNLIKELY(b == 0)) tsr_fail_div_zero(loc); \
    if (!SIGNED) return (T)(a % b); \
    if (b == (T)-1) return 0; \
    T r = (T)(a % b); if (r != 0 && ((r < 0) != (b < 0))) r = (T)(r + b); return r; } \
static inline uint32_t tsr_count_##N(int64_t n, uint32_t loc) { if (TSR_UNLIKELY((uint64_t)n >= (BITS))) tsr_fail_shift(loc); return (uint32_t)n; } \
static inline T tsr_shl_##N(T a, int64_t n, uint32_t loc) { \
    uint32_t c = tsr_count_##N(n, loc); \
    if (TSR_UNLIKELY(a > (T)((T)(MAXV) >> c) || a < (T)((T)(MINV) >> c))) tsr_fail_overflow(loc); \
    return (T)((uint32_t)a << c); } \
static inline T tsr_shr_##N(T a, int64_t n, uint32_t loc) { return (T)(a >> tsr_count_##N(n, loc)); } \
static inline T tsr_wshl_##N(T a, int64_t n, uint32_t loc) { return (T)((uint32_t)a << tsr_count_##N(n, loc)); } \
static inline T tsr_conv_##N(int64_t v, uint32_t loc) { if (TSR_UNLIKELY(v < (MINV) || v > (MAXV))) tsr_fail_conversion(loc); return (T)v; } \
static inline T tsr_min_##N(T a, T b) { return a < b ? a : b; } \
static inline T tsr_max_##N(T a, T b) { return a > b ? a : b; } \
static inline T tsr_neg_##N##_if_negative(T a, uint32_t loc) { return (int64_t)a < 0 ? tsr_neg_##N(a, loc) : a; }

TSR_ARITH(u8, uint8_t, 8, 0, 0xFF, 0)
TSR_ARITH(u16, uint16_t, 16, 0, 0xFFFF, 0)
TSR_ARITH(u32, uint32_t, 32, 0, 0xFFFFFFFFu, 0)
TSR_ARITH(i8, int8_t, 8, -128, 127, 1)
TSR_ARITH(i16, int16_t, 16, -32768, 32767, 1)
TSR_ARITH(i32, int32_t, 32, INT32_MIN, INT32_MAX, 1)

/* index checks: unsigned compare catches negative indexes too */
static inline uint32_t tsr_idx(int64_t i, uint32_t n, uint32_t loc) {
    if (TSR_UNLIKELY((uint64_t)i >= n)) tsr_fail_bounds(loc);
    return (uint32_t)i;
}
static inline uint32_t tsr_idx_u(uint32_t i, uint32_t n, uint32_t loc) {
    if (TSR_UNLIKELY(i >= n)) tsr_fail_bounds(loc);
    return i;
}

/* SRAM/DRAM access, checked against the real sizes (memory safety); the emitter defines TSR_SRAM_SIZE and
   TSR_DRAM_SIZE from firmware.regs (the machine's regions), else the address map's windows bound them */
#ifndef TSR_SRAM_SIZE
#define TSR_SRAM_SIZE TESSERA_SRAM_MAX_SIZE
#endif
#ifndef TSR_DRAM_SIZE
#define TSR_DRAM_SIZE TESSERA_DRAM_MAX_SIZE
#endif
static inline uintptr_t tsr_mem_check(uint32_t addr, uint32_t size, uint32_t loc) {
    if (TSR_UNLIKELY(addr & (size - 1))) tsr_fail_align(loc);
    if (!((addr >= TESSERA_SRAM_BASE && addr - TESSERA_SRAM_BASE <= TSR_SRAM_SIZE - size) ||
          (addr >= TESSERA_DRAM_BASE && addr - TESSERA_DRAM_BASE <= TSR_DRAM_SIZE - size)))
        tsr_fail_bounds(loc);
    return (uintptr_t)addr;
}
static inline uint8_t tsr_mem_read8(uint32_t a, uint32_t loc) { return *(volatile uint8_t *)tsr_mem_check(a, 1, loc); }
static inline uint16_t tsr_mem_read16(uint32_t a, uint32_t loc) { return *(volatile uint16_t *)tsr_mem_check(a, 2, loc); }
static inline uint32_t tsr_mem_read32(uint32_t a, uint32_t loc) { return *(volatile uint32_t *)tsr_mem_check(a, 4, loc); }
static inline void tsr_mem_write8(uint32_t a, uint8_t v, uint32_t loc) { *(volatile uint8_t *)tsr_mem_check(a, 1, loc) = v; }
static inline void tsr_mem_write16(uint32_t a, uint16_t v, uint32_t loc) { *(volatile uint16_t *)tsr_mem_check(a, 2, loc) = v; }
static inline void tsr_mem_write32(uint32_t a, uint32_t v, uint32_t loc) { *(volatile uint32_t *)tsr_mem_check(a, 4, loc) = v; }

/* MMIO at a run-time address (a validated command stream), checked against the MMIO window and alignment */
static inline uintptr_t tsr_mmio_check(uint32_t addr, uint32_t loc) {
    if (TSR_UNLIKELY(addr & 3u)) tsr_fail_align(loc);
    if (!(addr >= TESSERA_MMIO_BASE && addr - TESSERA_MMIO_BASE <= TESSERA_MMIO_MAX_SIZE - 4u)) tsr_fail_bounds(loc);
    return (uintptr_t)addr;
}
static inline uint32_t tsr_mmio_read_at(uint32_t a, uint32_t loc) { return *(volatile uint32_t *)tsr_mmio_check(a, loc); }
static inline void tsr_mmio_write_at(uint32_t a, uint32_t v, uint32_t loc) { *(volatile uint32_t *)tsr_mmio_check(a, loc) = v; }

/* core intrinsics */
static inline void tsr_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }
static inline void tsr_interrupts_enable(void) { __asm__ volatile("csrsi mstatus, 8" ::: "memory"); }
static inline void tsr_interrupts_disable(void) { __asm__ volatile("csrci mstatus, 8" ::: "memory"); }
/* with critical(): clear mstatus.MIE, returning its previous state; restore exactly that state */
static inline uint32_t tsr_critical_enter(void) {
    uint32_t m;
    __asm__ volatile("csrrci %0, mstatus, 8" : "=r"(m) :: "memory");
    return m;
}
static inline void tsr_critical_exit(uint32_t m) { __asm__ volatile("csrs mstatus, %0" :: "r"(m & 8u) : "memory"); }
static inline void tsr_set_interrupt_mask(uint32_t m) { __asm__ volatile("csrw mie, %0" :: "r"(m) : "memory"); }

#endif
