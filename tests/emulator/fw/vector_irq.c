/* The vector unit through registers on the emulated SoC: FILL writes a byte over a strided region,
   then MAXPOOL (2x2, stride 2) pools an 4x4x8 int8 tile; both completions arrive as IRQ_VECTOR while
   the core sleeps in WFI. The core checks every output byte (gaps between output pixels must keep
   the FILL byte) and powers off with 0 when all match, 1 otherwise; prints the PERF VU_BUSY counter. */
#include "common.h"

#define H 4
#define W 4
#define C 8
#define OH 2
#define OW 2
#define OUT_PIX 12                      /* 8 channels + 4 gap bytes per output pixel */
#define FILL_BYTE 0x5A
#define SRAM_IN (TESSERA_SRAM_BASE)
#define SRAM_OUT (TESSERA_SRAM_BASE + 0x100u)

static volatile uint32_t vu_irqs;

static void wait_for(volatile uint32_t *counter, uint32_t seen) {
    for (;;) {
        CSR_CLEAR(mstatus, MSTATUS_MIE);
        if (*counter != seen) break;
        wfi();
        CSR_SET(mstatus, MSTATUS_MIE);
    }
    CSR_SET(mstatus, MSTATUS_MIE);
}

void trap_handler(uint32_t mcause, uint32_t mepc, uint32_t mtval) {
    (void)mepc; (void)mtval;
    if (mcause != (TESSERA_MCAUSE_INTERRUPT | TESSERA_MCAUSE_MEI)) poweroff(0xE0 | (mcause & 0xF));
    uint32_t src = REG(INTC_CLAIM) - 1;
    if (src != TESSERA_IRQ_VECTOR) poweroff(0xF0 | src);
    if (REG(VECTOR_STATUS) & VECTOR_STATUS_ERR_MASK) poweroff(0xD0 | (REG(VECTOR_STATUS) >> 8));
    vu_irqs++;
    REG(VECTOR_STATUS) = VECTOR_STATUS_DONE_MASK | VECTOR_STATUS_ERR_MASK;
}

static void vu_run(uint32_t op) {
    uint32_t before = vu_irqs;
    REG(VECTOR_OP) = op;
    REG(VECTOR_CTRL) = VECTOR_CTRL_START_MASK | VECTOR_CTRL_IRQ_EN_MASK;
    wait_for(&vu_irqs, before);
}

int main(void) {
    volatile int8_t *in = (volatile int8_t *)SRAM_IN, *out = (volatile int8_t *)SRAM_OUT;
    for (int i = 0; i < H * W * C; i++) in[i] = (int8_t)((i * 37) % 251 - 125);
    REG(INTC_ENABLE) = 1u << TESSERA_IRQ_VECTOR;
    CSR_SET(mie, MIE_MEIE);
    CSR_SET(mstatus, MSTATUS_MIE);
    REG(VECTOR_OUT_ADDR) = SRAM_OUT; REG(VECTOR_OUT_PIX_STRIDE) = 1; REG(VECTOR_OUT_ROW_STRIDE) = OH * OW * OUT_PIX;
    REG(VECTOR_C) = 1; REG(VECTOR_OUT_H) = 1; REG(VECTOR_OUT_W) = OH * OW * OUT_PIX;
    REG(VECTOR_ZP_OUT) = FILL_BYTE;
    vu_run(TESSERA_VU_OP_FILL);
    REG(VECTOR_IN_ADDR) = SRAM_IN; REG(VECTOR_IN_PIX_STRIDE) = C; REG(VECTOR_IN_ROW_STRIDE) = W * C;
    REG(VECTOR_OUT_PIX_STRIDE) = OUT_PIX; REG(VECTOR_OUT_ROW_STRIDE) = OW * OUT_PIX;
    REG(VECTOR_IN_H) = H; REG(VECTOR_IN_W) = W; REG(VECTOR_C) = C; REG(VECTOR_OUT_H) = OH; REG(VECTOR_OUT_W) = OW;
    REG(VECTOR_K_H) = 2; REG(VECTOR_K_W) = 2; REG(VECTOR_STRIDE_H) = 2; REG(VECTOR_STRIDE_W) = 2;
    vu_run(TESSERA_VU_OP_MAXPOOL);
    int bad = 0;
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            for (int c = 0; c < C; c++) {
                int8_t m = -128;
                for (int kh = 0; kh < 2; kh++)
                    for (int kw = 0; kw < 2; kw++) {
                        int8_t v = in[((oh * 2 + kh) * W + ow * 2 + kw) * C + c];
                        if (v > m) m = v;
                    }
                if (out[(oh * OW + ow) * OUT_PIX + c] != m) bad++;
            }
            for (int g = C; g < OUT_PIX; g++)
                if (out[(oh * OW + ow) * OUT_PIX + g] != FILL_BYTE) bad++;
        }
    puts_("vu_busy="); puthex(REG(PERF_VU_BUSY_LO));
    puts_(bad || vu_irqs != 2 ? " MISMATCH\n" : " OK\n");
    return bad ? 1 : 0;
}
