/* A CoreMark-style C port as a newcomer writes it: 64-bit division and modulo, soft float, a CRC, printing
   through the UART with nothing but tessera_regs.h, and main's result as the power-off code. */
#include <stdint.h>
#include "tessera_regs.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

static void putc_(char c) {
    while (REG(UART_STATUS) & UART_STATUS_TX_FULL_MASK) {}
    REG(UART_DATA) = (uint8_t)c;
}

static void puts_(const char *s) { while (*s) putc_(*s++); }

static void putu64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    puts_(&buf[i]);
}

static uint16_t crc16(uint16_t crc, uint8_t data) {
    for (int i = 0; i < 8; i++) {
        uint8_t x = (crc ^ data) & 1;
        data >>= 1;
        crc = x ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

volatile uint64_t seed = 0x123456789abcdefULL;
volatile int64_t divisor = -7;
volatile double num = 22.0, den = 7.0;

int main(void) {
    uint64_t q = seed / 1000003u;
    int64_t s = (int64_t)seed / divisor;
    uint16_t crc = 0;
    for (uint64_t i = 0; i < 64; i++) crc = crc16(crc, (uint8_t)(q >> (i % 56)));
    double pi = num / den;
    puts_("q=");
    putu64(q);
    puts_(" r=");
    putu64(seed % 1000003u);
    puts_(" s=-");
    putu64((uint64_t)(-s));
    puts_(" crc=");
    putu64(crc);
    puts_(" pi1000=");
    putu64((uint64_t)(pi * 1000.0));
    puts_("\n");
    return 42;
}
