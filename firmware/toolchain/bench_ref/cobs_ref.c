/* Benchmark anchor: the same COBS workload as cobs_fw.py, written by hand in C. */
#include <stdint.h>
#include "tessera_regs.h"

#define N 300
#define REPS 20
#define MAX_ENC (N + N / 254 + 2)
#define REG(a) (*(volatile uint32_t *)(uintptr_t)(a))

static uint8_t src[N], enc[MAX_ENC], dec[N];

static uint32_t cobs_encode(const uint8_t *in, uint32_t n, uint8_t *out_buf) {
    uint32_t code_at = 0, out = 1;
    uint8_t code = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (in[i] == 0) {
            out_buf[code_at] = code; code_at = out++; code = 1;
        } else {
            out_buf[out++] = in[i];
            if (++code == 0xFF) { out_buf[code_at] = code; code_at = out++; code = 1; }
        }
    }
    out_buf[code_at] = code;
    return out;
}

static uint32_t cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out_buf) {
    uint32_t i = 0, out = 0;
    while (i < n) {
        uint32_t code = in[i++];
        for (uint32_t k = 1; k < code; k++) out_buf[out++] = in[i++];
        if (code != 0xFF && i < n) out_buf[out++] = 0;
    }
    return out;
}

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) { (void)mcause; (void)mepc; (void)mtval; }

int main(void) {
    for (uint32_t i = 0; i < N; i++) src[i] = (i % 37 != 5) ? (uint8_t)((i * 13 + 1) & 0xFF) : 0;
    uint32_t acc = 0;
    for (uint32_t r = 0; r < REPS; r++) {
        src[1] = (uint8_t)r;
        uint32_t m = cobs_encode(src, N, enc);
        acc = acc + cobs_decode(enc, m, dec) + m + dec[r];
    }
    REG(UART_DATA) = acc & 0xFF;
    REG(UART_DATA) = (acc >> 8) & 0xFF;
    return 0;
}

/* the crt0 (emulator/linker.py) powers off with main's result */
void crt0_poweroff(int code) {
    REG(SYSCTL_POWEROFF) = ((uint32_t)TESSERA_SYSCTL_POWEROFF_KEY << SYSCTL_POWEROFF_KEY_SHIFT) | ((uint32_t)code & SYSCTL_POWEROFF_CODE_MASK);
    for (;;) __asm__ volatile("wfi");
}
