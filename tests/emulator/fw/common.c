/* Shared test-program runtime: UART output by polling, power-off, crt0's exit hook. */
#include "common.h"

void putch(char c) {
    while (REG(UART_STATUS) & UART_STATUS_TX_FULL_MASK) {}
    REG(UART_DATA) = (uint8_t)c;
}

void puts_(const char *s) { while (*s) putch(*s++); }

void puthex(uint32_t v) {
    for (int i = 28; i >= 0; i -= 4) putch("0123456789abcdef"[(v >> i) & 0xF]);
}

void poweroff(uint32_t code) {
    while (!(REG(UART_STATUS) & UART_STATUS_TX_EMPTY_MASK)) {}   /* drain the TX FIFO first */
    REG(SYSCTL_POWEROFF) = (TESSERA_SYSCTL_POWEROFF_KEY << SYSCTL_POWEROFF_KEY_SHIFT) | (code & SYSCTL_POWEROFF_CODE_MASK);
    for (;;) {}
}

void crt0_poweroff(int code) { poweroff((uint32_t)code); }
