/* Compute-bound loop for the MIPS benchmark: an LCG and xor folding for ITERATIONS, no MMIO until the end. */
#include "common.h"

#ifndef ITERATIONS
#define ITERATIONS 20000000u
#endif

int main(void) {
    uint32_t a = 1, b = 0;
    for (uint32_t i = 0; i < ITERATIONS; i++) { a = a * 1664525u + 1013904223u; b ^= a >> 3; }
    puthex(b);
    putch('\n');
    return 0;
}
