/* ebreak: prints then executes ebreak, which ends the session with reason "ebreak". */
#include "common.h"

int main(void) {
    puts_("before ebreak\n");
    __asm__ volatile("ebreak");
    return 3;
}
