/* Boot and print: identity registers over the UART, then power off with code 7. */
#include "common.h"

int main(void) {
    puts_("hello from tessera id=");
    puthex(REG(SYSCTL_ID));
    puts_(" boot=");
    puthex(REG(SYSCTL_BOOT_COUNT));
    puts_(" clk=");
    puthex(REG(SYSCTL_CORE_CLOCK_HZ));
    puts_("\n");
    return 7;
}
