/* UART echo: sleeps in WFI until RX data arrives (UART interrupt through INTC), echoes each byte;
   a received 'q' powers off with code 0. */
#include "common.h"

static volatile uint32_t rx_irqs;

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    (void)mepc; (void)mtval;
    if (mcause == (TESSERA_MCAUSE_INTERRUPT | TESSERA_MCAUSE_MEI)) {
        rx_irqs++;
        REG(UART_IRQ_ENABLE) = 0;         /* main re-enables once the FIFO is drained */
    } else {
        poweroff(0xE0 | (mcause & 0xF));
    }
}

int main(void) {
    REG(INTC_ENABLE) = 1u << TESSERA_IRQ_UART;
    CSR_SET(mie, MIE_MEIE);
    CSR_SET(mstatus, MSTATUS_MIE);
    puts_("echo ready\n");
    for (;;) {
        while (REG(UART_STATUS) & UART_STATUS_RX_AVAIL_MASK) {
            char c = (char)REG(UART_DATA);
            if (c == 'q') return 0;
            putch(c);
        }
        CSR_CLEAR(mstatus, MSTATUS_MIE);
        REG(UART_IRQ_ENABLE) = UART_IRQ_ENABLE_RX_AVAIL_MASK;
        if (!(REG(UART_STATUS) & UART_STATUS_RX_AVAIL_MASK)) wfi();   /* WFI wakes on a pending interrupt even with MIE off */
        CSR_SET(mstatus, MSTATUS_MIE);
    }
}
