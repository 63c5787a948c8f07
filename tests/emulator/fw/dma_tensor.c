/* DMA plus tensor core through registers: A (MxK) and B (KxN) int8 are written to DRAM, copied to
   SRAM by DMA channel 0 (completion interrupt, core asleep in WFI), multiplied by the tensor core in
   RAW32 mode (completion interrupt), and the int32 result is checked against the core's own product.
   Powers off with 0 when every element matches, 1 otherwise; prints the PERF MACS counter. */
#include "common.h"

#define M 8
#define N 8
#define K 16
#define DRAM_A (TESSERA_DRAM_BASE)
#define DRAM_B (TESSERA_DRAM_BASE + 0x1000u)
#define SRAM_A (TESSERA_SRAM_BASE)
#define SRAM_B (TESSERA_SRAM_BASE + 0x1000u)
#define SRAM_C (TESSERA_SRAM_BASE + 0x2000u)
#define DONE_STATUS_MASK (DMA_CH0_STATUS_DONE_MASK | DMA_CH0_STATUS_ERR_MASK)

static volatile uint32_t dma_irqs, tc_irqs;

/* Sleep until *counter moves past `seen`: MIE is off between the check and WFI (WFI still wakes on a
   pending interrupt), so an interrupt cannot slip in between them. */
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
    if (src == TESSERA_IRQ_DMA0) { dma_irqs++; REG(DMA_CH0_STATUS) = DONE_STATUS_MASK; }
    else if (src == TESSERA_IRQ_TENSOR) { tc_irqs++; REG(TENSOR_STATUS) = TENSOR_STATUS_DONE_MASK | TENSOR_STATUS_ERR_MASK; }
    else poweroff(0xF0 | src);
}

static void dma_copy(uint32_t src, uint32_t dst, uint32_t len) {
    uint32_t before = dma_irqs;
    REG(DMA_CH0_SRC) = src; REG(DMA_CH0_DST) = dst; REG(DMA_CH0_LEN) = len; REG(DMA_CH0_ROWS) = 1;
    REG(DMA_CH0_NEXT) = 0;
    REG(DMA_CH0_CTRL) = DMA_CH0_CTRL_START_MASK | DMA_CH0_CTRL_IRQ_EN_MASK;
    wait_for(&dma_irqs, before);
}

int main(void) {
    volatile int8_t *a = (volatile int8_t *)DRAM_A, *b = (volatile int8_t *)DRAM_B;
    for (int i = 0; i < M * K; i++) a[i] = (int8_t)(i * 7 - 50);
    for (int i = 0; i < K * N; i++) b[i] = (int8_t)(i * 3 - 20);
    REG(INTC_ENABLE) = (1u << TESSERA_IRQ_DMA0) | (1u << TESSERA_IRQ_TENSOR);
    CSR_SET(mie, MIE_MEIE);
    CSR_SET(mstatus, MSTATUS_MIE);
    dma_copy(DRAM_A, SRAM_A, M * K);
    dma_copy(DRAM_B, SRAM_B, K * N);
    REG(TENSOR_M) = M; REG(TENSOR_N) = N; REG(TENSOR_K) = K;
    REG(TENSOR_A_ADDR) = SRAM_A; REG(TENSOR_B_ADDR) = SRAM_B; REG(TENSOR_C_ADDR) = SRAM_C;
    REG(TENSOR_A_STRIDE) = K; REG(TENSOR_B_STRIDE) = N; REG(TENSOR_C_STRIDE) = N * 4;
    REG(TENSOR_CTRL) = TENSOR_CTRL_START_MASK | TENSOR_CTRL_IRQ_EN_MASK | TENSOR_CTRL_RAW32_MASK;
    wait_for(&tc_irqs, 0);
    volatile int32_t *c = (volatile int32_t *)SRAM_C;
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            int32_t acc = 0;
            for (int k = 0; k < K; k++) acc += (int32_t)a[i * K + k] * (int32_t)b[k * N + j];
            if (c[i * N + j] != acc) bad++;
        }
    puts_("macs="); puthex(REG(PERF_MACS_LO));
    puts_(bad ? " MISMATCH\n" : " OK\n");
    return bad ? 1 : 0;
}
