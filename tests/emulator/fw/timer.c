/* Timer interrupt: three MTIMECMP ticks of TICK cycles slept through with WFI; the handler records
   mcause, mepc and mstatus (MPIE/MPP) at entry; prints them and the tick times, powers off with
   the tick count. */
#include "common.h"

#define TICK 100000u
static volatile uint32_t ticks, seen_cause, seen_mepc, seen_mstatus, tick_time[3];

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    (void)mtval;
    if (mcause != (TESSERA_MCAUSE_INTERRUPT | TESSERA_MCAUSE_MTI)) poweroff(0xE0 | (mcause & 0xF));
    seen_cause = mcause;
    seen_mepc = mepc;
    seen_mstatus = CSR_READ(mstatus);
    tick_time[ticks < 3 ? ticks : 2] = mtime_lo();
    ticks++;
    uint32_t next = REG(TIMER_MTIMECMP_LO) + TICK;
    REG(TIMER_MTIMECMP_HI) = 0;
    REG(TIMER_MTIMECMP_LO) = next;
}

int main(void) {
    uint32_t start = mtime_lo();
    REG(TIMER_MTIMECMP_HI) = 0;
    REG(TIMER_MTIMECMP_LO) = start + TICK;
    CSR_SET(mie, MIE_MTIE);
    CSR_SET(mstatus, MSTATUS_MIE);
    for (;;) {   /* MIE off between the check and WFI, so a tick cannot slip in between */
        CSR_CLEAR(mstatus, MSTATUS_MIE);
        if (ticks >= 3) break;
        wfi();
        CSR_SET(mstatus, MSTATUS_MIE);
    }
    CSR_CLEAR(mstatus, MSTATUS_MIE);
    puts_("cause="); puthex(seen_cause);
    puts_(" mepc="); puthex(seen_mepc);
    puts_(" mstatus="); puthex(seen_mstatus);
    puts_(" mstatus_after="); puthex(CSR_READ(mstatus));
    puts_(" start="); puthex(start);
    for (int i = 0; i < 3; i++) { puts_(" t="); puthex(tick_time[i]); }
    puts_("\n");
    return (int)ticks;
}
