/* Helpers shared by the emulator's test programs: MMIO access, UART output, power-off. */
#ifndef TEST_FW_COMMON_H
#define TEST_FW_COMMON_H
#include <stdint.h>
#include "tessera_regs.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define CSR_SET(csr, bits) __asm__ volatile("csrs " #csr ", %0" :: "r"(bits))
#define CSR_CLEAR(csr, bits) __asm__ volatile("csrc " #csr ", %0" :: "r"(bits))
#define CSR_READ(csr) ({ uint32_t v_; __asm__ volatile("csrr %0, " #csr : "=r"(v_)); v_; })
#define MSTATUS_MIE (1u << 3)
#define MIE_MSIE (1u << 3)
#define MIE_MTIE (1u << 7)
#define MIE_MEIE (1u << 11)

void putch(char c);
void puts_(const char *s);
void puthex(uint32_t v);
void poweroff(uint32_t code) __attribute__((noreturn));
static inline void wfi(void) { __asm__ volatile("wfi"); }
static inline uint32_t mtime_lo(void) { return REG(TIMER_MTIME_LO); }
#endif
