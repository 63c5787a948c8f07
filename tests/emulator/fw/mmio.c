/* MMIO-bound loop for the access-cost benchmark: ACCESSES reads of SYSCTL.SCRATCH0. */
#include "common.h"

#ifndef ACCESSES
#define ACCESSES 200000u
#endif

int main(void) {
    uint32_t s = 0;
    for (uint32_t i = 0; i < ACCESSES; i++) s += REG(SYSCTL_SCRATCH0);
    return (int)(s & 1);
}
