/* Watchdog: first boot enables the watchdog with a short timeout and stops kicking it; after the
   watchdog reset the second boot reports BOOT_COUNT, RESET_CAUSE and the SCRATCH0 marker left by
   the first boot (scratch survives a core reset), then powers off. */
#include "common.h"

#define TIMEOUT 20000u
#define MARKER 0xC0FFEE00u

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    (void)mepc; (void)mtval;
    if (mcause == (TESSERA_MCAUSE_INTERRUPT | TESSERA_MCAUSE_MEI) && REG(INTC_CLAIM) == TESSERA_IRQ_WDT + 1) {
        REG(SYSCTL_SCRATCH1) = REG(SYSCTL_SCRATCH1) + 1;   /* count pre-timeout warnings */
        REG(WDT_STATUS) = WDT_STATUS_WARN_MASK;
        return;
    }
    poweroff(0xE0 | (mcause & 0xF));
}

int main(void) {
    if (REG(SYSCTL_BOOT_COUNT) == 0) {
        REG(SYSCTL_SCRATCH0) = MARKER;
        puts_("arming\n");
        REG(INTC_ENABLE) = 1u << TESSERA_IRQ_WDT;
        CSR_SET(mie, MIE_MEIE);
        CSR_SET(mstatus, MSTATUS_MIE);
        REG(WDT_TIMEOUT) = TIMEOUT;
        REG(WDT_CTRL) = WDT_CTRL_ENABLE_MASK;
        for (;;) {}   /* never kicks */
    }
    puts_("boot="); puthex(REG(SYSCTL_BOOT_COUNT));
    puts_(" cause="); puthex(REG(SYSCTL_RESET_CAUSE));
    puts_(" scratch0="); puthex(REG(SYSCTL_SCRATCH0));
    puts_(" warnings="); puthex(REG(SYSCTL_SCRATCH1));
    puts_("\n");
    return 0x42;
}
