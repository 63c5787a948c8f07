/* Traps: an illegal instruction, an ecall and a load access fault are each delivered to the trap
   handler, which logs mcause/mepc/mtval and skips the instruction; then, with mtvec cleared, a
   second illegal instruction is fatal (the emulator reports the PC, cause and registers). */
#include "common.h"

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    puts_("trap cause="); puthex(mcause);
    puts_(" mepc="); puthex(mepc);
    puts_(" mtval="); puthex(mtval);
    puts_("\n");
    uint16_t low = *(volatile uint16_t *)(uintptr_t)mepc;
    __asm__ volatile("csrw mepc, %0" :: "r"(mepc + ((low & 3) == 3 ? 4 : 2)));
}

__attribute__((noinline)) void illegal(void) { __asm__ volatile(".word 0xffffffff"); }

int main(void) {
    illegal();
    __asm__ volatile("ecall");
    (void)*(volatile uint32_t *)0x70000000u;
    puts_("fatal next\n");
    __asm__ volatile("li s2, 0x5eed; csrw mtvec, zero; .word 0xffffffff");
    return 1;
}
