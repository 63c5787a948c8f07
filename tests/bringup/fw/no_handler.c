/* An exception with no trap handler: a load from an unmapped address. The crt0 leaves mtvec at 0, so the
   emulator ends the session with the cause, the PC, the function and source line, and the registers. */
#include <stdint.h>

__attribute__((noinline)) uint32_t read_bad(volatile uint32_t *p) {
    return *p;
}

int main(void) {
    return (int)read_bad((volatile uint32_t *)0x70000000u);
}
