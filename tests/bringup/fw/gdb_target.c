/* A target for the debugger tests: a function to break at, a global to watch, output, an exit code (165). */
#include <stdint.h>
#include "tessera_regs.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

volatile uint32_t counter;

static void putc_(char c) {
    while (REG(UART_STATUS) & UART_STATUS_TX_FULL_MASK) {}
    REG(UART_DATA) = (uint8_t)c;
}

__attribute__((noinline)) uint32_t step_counter(uint32_t i) {
    counter += i;
    return counter;
}

int main(void) {
    uint32_t sum = 0;
    for (uint32_t i = 0; i < 10; i++) sum += step_counter(i);
    const char *msg = "sum=165\n";
    if (sum != 165) msg = "sum=bad\n";
    while (*msg) putc_(*msg++);
    return (int)sum;
}
