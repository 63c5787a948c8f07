/* Generated from asic_model/soc_map.py by asic_model/regmap_export.py. Do not edit. */
#ifndef TESSERA_REGS_H
#define TESSERA_REGS_H

#include <stdint.h>

/* ---- memory map ---- */
#define TESSERA_FLASH_BASE 0x00000000u  /* boot flash: the firmware image (text, rodata, data load image) */
#define TESSERA_FLASH_MAX_SIZE 0x01000000u
#define TESSERA_MMIO_BASE 0x10000000u  /* peripheral registers (the blocks below) */
#define TESSERA_MMIO_MAX_SIZE 0x01000000u
#define TESSERA_SRAM_BASE 0x20000000u  /* accelerator scratchpad, banked; tensor core operands live here */
#define TESSERA_SRAM_MAX_SIZE 0x01000000u
#define TESSERA_DRAM_BASE 0x40000000u  /* device DRAM: models, inputs, outputs, spills */
#define TESSERA_DRAM_MAX_SIZE 0x20000000u
#define TESSERA_RAM_BASE 0x80000000u  /* control core RAM: data, bss, stack */
#define TESSERA_RAM_MAX_SIZE 0x00100000u

/* ---- constants ---- */
#define TESSERA_IRQ_UART 0x0u  /* UART: RX data available, TX empty or RX overrun (see UART.IRQ_STATUS) */
#define TESSERA_IRQ_DMA0 0x1u  /* DMA channel 0 completion */
#define TESSERA_IRQ_DMA1 0x2u  /* DMA channel 1 completion */
#define TESSERA_IRQ_DMA2 0x3u  /* DMA channel 2 completion */
#define TESSERA_IRQ_DMA3 0x4u  /* DMA channel 3 completion */
#define TESSERA_IRQ_DMA_ERR 0x5u  /* DMA error on any channel */
#define TESSERA_IRQ_TENSOR 0x6u  /* tensor core done or error */
#define TESSERA_IRQ_ECC 0x7u  /* SRAM ECC error */
#define TESSERA_IRQ_WDT 0x8u  /* watchdog pre-timeout warning (half the timeout left) */
#define TESSERA_IRQ_VECTOR 0x9u  /* vector unit done or error */
#define TESSERA_IRQ_COUNT 0xau  /* number of interrupt sources */
#define TESSERA_MCAUSE_INTERRUPT 0x80000000u  /* mcause bit set for interrupts */
#define TESSERA_MCAUSE_MSI 0x3u  /* machine software interrupt */
#define TESSERA_MCAUSE_MTI 0x7u  /* machine timer interrupt (TIMER.MTIMECMP) */
#define TESSERA_MCAUSE_MEI 0xbu  /* machine external interrupt (INTC) */
#define TESSERA_UART_FIFO_DEPTH 0x40u  /* UART TX and RX FIFO depth in bytes */
#define TESSERA_UART_BITS_PER_BYTE 0xau  /* start + 8 data + stop bits: one byte takes 10 bit times */
#define TESSERA_UART_DEFAULT_BAUD 0x1c200u  /* UART.BAUD reset value */
#define TESSERA_DMA_MAX_CHANNELS 0x4u  /* DMA channel register sets (a profile enables 1 to 4) */
#define TESSERA_DMA_DESC_WORDS 0x8u  /* words in an in-memory DMA descriptor: SRC, DST, LEN, ROWS, SRC_STRIDE, DST_STRIDE, CTRL, NEXT */
#define TESSERA_TC_MAX_DIM 0xffffu  /* largest M, N or K of one tensor core operation */
#define TESSERA_TC_MAX_SHIFT 0x3fu  /* largest requantization shift */
#define TESSERA_VU_MAX_DIM 0xffffu  /* largest geometry value (IN_H, IN_W, C, OUT_H, OUT_W, K_H, K_W, strides, DEPTH_MULT) of one vector operation */
#define TESSERA_VU_MAX_LEFT_SHIFT 0x17u  /* largest VECTOR.LEFT_SHIFT of ADD: (x + offset) << 23 still fits int32 for |x + offset| <= 255 */
#define TESSERA_VU_SOFTMAX_MAX_C 0x1ffu  /* largest SOFTMAX channel count: a sum of exps below 512 keeps TFLite's output exponent <= 31 */
#define TESSERA_VU_OP_DWCONV 0x1u  /* VECTOR.OP: depthwise convolution (TFLite DEPTHWISE_CONV_2D, per-channel requantization) */
#define TESSERA_VU_OP_AVGPOOL 0x2u  /* VECTOR.OP: average pool (TFLite AVERAGE_POOL_2D int8) */
#define TESSERA_VU_OP_MAXPOOL 0x3u  /* VECTOR.OP: max pool (TFLite MAX_POOL_2D int8) */
#define TESSERA_VU_OP_ADD 0x4u  /* VECTOR.OP: elementwise add with input rescaling (TFLite ADD int8) */
#define TESSERA_VU_OP_SOFTMAX 0x5u  /* VECTOR.OP: softmax over C per pixel (TFLite SOFTMAX int8, output scale 1/256, zero point -128) */
#define TESSERA_VU_OP_FILL 0x6u  /* VECTOR.OP: write the byte ZP_OUT over an OUT_H x OUT_W x C region */
#define TESSERA_TFL_MAX_SHIFT 0x1fu  /* QMODE_TFL and VECTOR shifts lie in -TFL_MAX_SHIFT..TFL_MAX_SHIFT (positive = left) */
#define TESSERA_SYSCTL_RESET_KEY 0x52535421u  /* write to SYSCTL.RESET to reset the core ('RST!') */
#define TESSERA_SYSCTL_POWEROFF_KEY 0xff0u  /* SYSCTL.POWEROFF.KEY value that powers off */
#define TESSERA_WDT_KICK_KEY 0x4b49434bu  /* write to WDT.KICK to reload the watchdog ('KICK') */
#define TESSERA_WDT_DISABLE_KEY 0x4b49u  /* WDT.CTRL.KEY value required to clear ENABLE (the upper half of WDT_KICK_KEY, 'KI') */
#define TESSERA_CHIP_ID 0x54455353u  /* SYSCTL.ID value ('TESS') */
#define TESSERA_ERR_NONE 0x0u  /* no error */
#define TESSERA_ERR_BOUNDS 0x1u  /* an address range lies outside every valid window */
#define TESSERA_ERR_SHAPE 0x2u  /* a zero or too large dimension, or a zero row count */
#define TESSERA_ERR_QPARAM 0x3u  /* a quantization parameter out of range (multiplier < 0, shift outside its mode's range, ACT_MIN > ACT_MAX, ...) */
#define TESSERA_ERR_ECC 0x4u  /* an SRAM ECC error was read */
#define TESSERA_ERR_ABORTED 0x5u  /* the operation was aborted through CTRL.ABORT */
#define TESSERA_ERR_CHANNEL 0x6u  /* the channel is faulty or not present in this profile */
#define TESSERA_ERR_ALIGN 0x7u  /* an address or stride is misaligned for its element type */
#define TESSERA_ERR_OP 0x8u  /* an unknown operation code (VECTOR.OP) */
#define TESSERA_RESET_POWER_ON 0x0u  /* SYSCTL.RESET_CAUSE after power-on */
#define TESSERA_RESET_WATCHDOG 0x1u  /* SYSCTL.RESET_CAUSE after a watchdog timeout */
#define TESSERA_RESET_SOFTWARE 0x2u  /* SYSCTL.RESET_CAUSE after a write to SYSCTL.RESET */
#define TESSERA_RESET_HOST 0x3u  /* SYSCTL.RESET_CAUSE after a reset requested by the host/emulator */

/* ---- SYSCTL: System control: identity, build information, reset and power-off. ---- */
#define SYSCTL_BASE 0x10000000u
#define SYSCTL_ID_OFFSET 0x000u  /* RO: chip identity, CHIP_ID */
#define SYSCTL_ID (SYSCTL_BASE + SYSCTL_ID_OFFSET)
#define SYSCTL_ID_RESET 0x54455353u
#define SYSCTL_VERSION_OFFSET 0x004u  /* RO: SoC model version */
#define SYSCTL_VERSION (SYSCTL_BASE + SYSCTL_VERSION_OFFSET)
#define SYSCTL_VERSION_RESET 0x00000100u
#define SYSCTL_VERSION_PATCH_SHIFT 0u
#define SYSCTL_VERSION_PATCH_MASK 0x000000ffu
#define SYSCTL_VERSION_MINOR_SHIFT 8u
#define SYSCTL_VERSION_MINOR_MASK 0x0000ff00u
#define SYSCTL_VERSION_MAJOR_SHIFT 16u
#define SYSCTL_VERSION_MAJOR_MASK 0x00ff0000u
#define SYSCTL_BUILD_OFFSET 0x008u  /* RO: emulator/model build id (low 32 bits of its hash) */
#define SYSCTL_BUILD (SYSCTL_BASE + SYSCTL_BUILD_OFFSET)
#define SYSCTL_BOOT_COUNT_OFFSET 0x00cu  /* RO: resets of the core since the session started */
#define SYSCTL_BOOT_COUNT (SYSCTL_BASE + SYSCTL_BOOT_COUNT_OFFSET)
#define SYSCTL_RESET_CAUSE_OFFSET 0x010u  /* RO: cause of the last reset, a RESET_* constant */
#define SYSCTL_RESET_CAUSE (SYSCTL_BASE + SYSCTL_RESET_CAUSE_OFFSET)
#define SYSCTL_RESET_CAUSE_CAUSE_SHIFT 0u
#define SYSCTL_RESET_CAUSE_CAUSE_MASK 0x00000003u
#define SYSCTL_RESET_OFFSET 0x014u  /* WO: write SYSCTL_RESET_KEY to reset the core */
#define SYSCTL_RESET (SYSCTL_BASE + SYSCTL_RESET_OFFSET)
#define SYSCTL_POWEROFF_OFFSET 0x018u  /* WO: power off the SoC; the session exits with CODE */
#define SYSCTL_POWEROFF (SYSCTL_BASE + SYSCTL_POWEROFF_OFFSET)
#define SYSCTL_POWEROFF_CODE_SHIFT 0u
#define SYSCTL_POWEROFF_CODE_MASK 0x000000ffu
#define SYSCTL_POWEROFF_KEY_SHIFT 16u
#define SYSCTL_POWEROFF_KEY_MASK 0xffff0000u
#define SYSCTL_CORE_CLOCK_HZ_OFFSET 0x01cu  /* RO: control core clock in Hz */
#define SYSCTL_CORE_CLOCK_HZ (SYSCTL_BASE + SYSCTL_CORE_CLOCK_HZ_OFFSET)
#define SYSCTL_SCRATCH0_OFFSET 0x020u  /* RW: scratch, survives core reset */
#define SYSCTL_SCRATCH0 (SYSCTL_BASE + SYSCTL_SCRATCH0_OFFSET)
#define SYSCTL_SCRATCH1_OFFSET 0x024u  /* RW: scratch, survives core reset */
#define SYSCTL_SCRATCH1 (SYSCTL_BASE + SYSCTL_SCRATCH1_OFFSET)
#define SYSCTL_SCRATCH2_OFFSET 0x028u  /* RW: scratch, survives core reset */
#define SYSCTL_SCRATCH2 (SYSCTL_BASE + SYSCTL_SCRATCH2_OFFSET)
#define SYSCTL_SCRATCH3_OFFSET 0x02cu  /* RW: scratch, survives core reset */
#define SYSCTL_SCRATCH3 (SYSCTL_BASE + SYSCTL_SCRATCH3_OFFSET)

/* ---- UART: Serial port: 64-byte TX and RX FIFOs, baud rate modeled in virtual time. ---- */
#define UART_BASE 0x10001000u
#define UART_DATA_OFFSET 0x000u  /* RW: write: push a byte to TX (dropped when full); read: pop a byte from RX (0 when empty) */
#define UART_DATA (UART_BASE + UART_DATA_OFFSET)
#define UART_DATA_BYTE_SHIFT 0u
#define UART_DATA_BYTE_MASK 0x000000ffu
#define UART_STATUS_OFFSET 0x004u  /* RO: FIFO state */
#define UART_STATUS (UART_BASE + UART_STATUS_OFFSET)
#define UART_STATUS_RESET 0x00000004u
#define UART_STATUS_RX_AVAIL_SHIFT 0u
#define UART_STATUS_RX_AVAIL_MASK 0x00000001u
#define UART_STATUS_TX_FULL_SHIFT 1u
#define UART_STATUS_TX_FULL_MASK 0x00000002u
#define UART_STATUS_TX_EMPTY_SHIFT 2u
#define UART_STATUS_TX_EMPTY_MASK 0x00000004u
#define UART_STATUS_RX_FULL_SHIFT 3u
#define UART_STATUS_RX_FULL_MASK 0x00000008u
#define UART_RX_LEVEL_OFFSET 0x008u  /* RO: bytes in the RX FIFO */
#define UART_RX_LEVEL (UART_BASE + UART_RX_LEVEL_OFFSET)
#define UART_TX_LEVEL_OFFSET 0x00cu  /* RO: bytes in the TX FIFO */
#define UART_TX_LEVEL (UART_BASE + UART_TX_LEVEL_OFFSET)
#define UART_IRQ_ENABLE_OFFSET 0x010u  /* RW: interrupt enables */
#define UART_IRQ_ENABLE (UART_BASE + UART_IRQ_ENABLE_OFFSET)
#define UART_IRQ_ENABLE_RX_AVAIL_SHIFT 0u
#define UART_IRQ_ENABLE_RX_AVAIL_MASK 0x00000001u
#define UART_IRQ_ENABLE_TX_EMPTY_SHIFT 1u
#define UART_IRQ_ENABLE_TX_EMPTY_MASK 0x00000002u
#define UART_IRQ_ENABLE_RX_OVERRUN_SHIFT 2u
#define UART_IRQ_ENABLE_RX_OVERRUN_MASK 0x00000004u
#define UART_IRQ_STATUS_OFFSET 0x014u  /* W1C: pending interrupt causes (RX_OVERRUN is cleared by writing 1) */
#define UART_IRQ_STATUS (UART_BASE + UART_IRQ_STATUS_OFFSET)
#define UART_IRQ_STATUS_RX_AVAIL_SHIFT 0u
#define UART_IRQ_STATUS_RX_AVAIL_MASK 0x00000001u
#define UART_IRQ_STATUS_TX_EMPTY_SHIFT 1u
#define UART_IRQ_STATUS_TX_EMPTY_MASK 0x00000002u
#define UART_IRQ_STATUS_RX_OVERRUN_SHIFT 2u
#define UART_IRQ_STATUS_RX_OVERRUN_MASK 0x00000004u
#define UART_BAUD_OFFSET 0x018u  /* RW: baud rate in bits per second */
#define UART_BAUD (UART_BASE + UART_BAUD_OFFSET)
#define UART_BAUD_RESET 0x0001c200u

/* ---- TIMER: CLINT-style machine timer. ---- */
#define TIMER_BASE 0x10002000u
#define TIMER_MTIME_LO_OFFSET 0x000u  /* RO: virtual time in core cycles, low word (reading it latches MTIME_HI) */
#define TIMER_MTIME_LO (TIMER_BASE + TIMER_MTIME_LO_OFFSET)
#define TIMER_MTIME_HI_OFFSET 0x004u  /* RO: virtual time, high word */
#define TIMER_MTIME_HI (TIMER_BASE + TIMER_MTIME_HI_OFFSET)
#define TIMER_MTIMECMP_LO_OFFSET 0x008u  /* RW: timer compare, low word */
#define TIMER_MTIMECMP_LO (TIMER_BASE + TIMER_MTIMECMP_LO_OFFSET)
#define TIMER_MTIMECMP_LO_RESET 0xffffffffu
#define TIMER_MTIMECMP_HI_OFFSET 0x00cu  /* RW: timer compare, high word */
#define TIMER_MTIMECMP_HI (TIMER_BASE + TIMER_MTIMECMP_HI_OFFSET)
#define TIMER_MTIMECMP_HI_RESET 0xffffffffu
#define TIMER_MSIP_OFFSET 0x010u  /* RW: machine software interrupt pending */
#define TIMER_MSIP (TIMER_BASE + TIMER_MSIP_OFFSET)
#define TIMER_MSIP_PENDING_SHIFT 0u
#define TIMER_MSIP_PENDING_MASK 0x00000001u

/* ---- INTC: Interrupt controller: routes every device line to the core's external interrupt. ---- */
#define INTC_BASE 0x10003000u
#define INTC_PENDING_OFFSET 0x000u  /* RO: device interrupt lines, bit n = source n (IRQ_* constants) */
#define INTC_PENDING (INTC_BASE + INTC_PENDING_OFFSET)
#define INTC_ENABLE_OFFSET 0x004u  /* RW: per-source enable */
#define INTC_ENABLE (INTC_BASE + INTC_ENABLE_OFFSET)
#define INTC_CLAIM_OFFSET 0x008u  /* RO: lowest pending enabled source + 1, or 0 */
#define INTC_CLAIM (INTC_BASE + INTC_CLAIM_OFFSET)

/* ---- WDT: Watchdog: resets the core when not kicked within TIMEOUT core cycles. ---- */
#define WDT_BASE 0x10004000u
#define WDT_CTRL_OFFSET 0x000u  /* RW: control */
#define WDT_CTRL (WDT_BASE + WDT_CTRL_OFFSET)
#define WDT_CTRL_ENABLE_SHIFT 0u
#define WDT_CTRL_ENABLE_MASK 0x00000001u
#define WDT_CTRL_KEY_SHIFT 16u
#define WDT_CTRL_KEY_MASK 0xffff0000u
#define WDT_TIMEOUT_OFFSET 0x004u  /* RW: timeout in core cycles */
#define WDT_TIMEOUT (WDT_BASE + WDT_TIMEOUT_OFFSET)
#define WDT_TIMEOUT_RESET 0x01000000u
#define WDT_KICK_OFFSET 0x008u  /* WO: write WDT_KICK_KEY to reload */
#define WDT_KICK (WDT_BASE + WDT_KICK_OFFSET)
#define WDT_COUNT_OFFSET 0x00cu  /* RO: core cycles left before reset */
#define WDT_COUNT (WDT_BASE + WDT_COUNT_OFFSET)
#define WDT_STATUS_OFFSET 0x010u  /* W1C: status */
#define WDT_STATUS (WDT_BASE + WDT_STATUS_OFFSET)
#define WDT_STATUS_WARN_SHIFT 0u
#define WDT_STATUS_WARN_MASK 0x00000001u

/* ---- ACCEL: Accelerator identity and configuration of the revision profile, and SRAM ECC status. ---- */
#define ACCEL_BASE 0x10005000u
#define ACCEL_PROFILE_ID_OFFSET 0x000u  /* RO: revision profile number */
#define ACCEL_PROFILE_ID (ACCEL_BASE + ACCEL_PROFILE_ID_OFFSET)
#define ACCEL_ARRAY_ROWS_OFFSET 0x004u  /* RO: tensor core array rows */
#define ACCEL_ARRAY_ROWS (ACCEL_BASE + ACCEL_ARRAY_ROWS_OFFSET)
#define ACCEL_ARRAY_COLS_OFFSET 0x008u  /* RO: tensor core array columns */
#define ACCEL_ARRAY_COLS (ACCEL_BASE + ACCEL_ARRAY_COLS_OFFSET)
#define ACCEL_VECTOR_WIDTH_OFFSET 0x00cu  /* RO: vector unit width in bytes (requantization lanes) */
#define ACCEL_VECTOR_WIDTH (ACCEL_BASE + ACCEL_VECTOR_WIDTH_OFFSET)
#define ACCEL_SRAM_SIZE_OFFSET 0x010u  /* RO: scratchpad size in bytes */
#define ACCEL_SRAM_SIZE (ACCEL_BASE + ACCEL_SRAM_SIZE_OFFSET)
#define ACCEL_SRAM_BANKS_OFFSET 0x014u  /* RO: scratchpad banks */
#define ACCEL_SRAM_BANKS (ACCEL_BASE + ACCEL_SRAM_BANKS_OFFSET)
#define ACCEL_DRAM_SIZE_OFFSET 0x018u  /* RO: device DRAM size in bytes */
#define ACCEL_DRAM_SIZE (ACCEL_BASE + ACCEL_DRAM_SIZE_OFFSET)
#define ACCEL_DMA_CHANNELS_OFFSET 0x01cu  /* RO: DMA channels present */
#define ACCEL_DMA_CHANNELS (ACCEL_BASE + ACCEL_DMA_CHANNELS_OFFSET)
#define ACCEL_DMA_BYTES_PER_CYCLE_OFFSET 0x020u  /* RO: DMA bandwidth in bytes per accelerator cycle */
#define ACCEL_DMA_BYTES_PER_CYCLE (ACCEL_BASE + ACCEL_DMA_BYTES_PER_CYCLE_OFFSET)
#define ACCEL_CLOCK_HZ_OFFSET 0x024u  /* RO: accelerator clock in Hz */
#define ACCEL_CLOCK_HZ (ACCEL_BASE + ACCEL_CLOCK_HZ_OFFSET)
#define ACCEL_ECC_STATUS_OFFSET 0x028u  /* W1C: SRAM ECC */
#define ACCEL_ECC_STATUS (ACCEL_BASE + ACCEL_ECC_STATUS_OFFSET)
#define ACCEL_ECC_STATUS_ERR_SHIFT 0u
#define ACCEL_ECC_STATUS_ERR_MASK 0x00000001u
#define ACCEL_ECC_ADDR_OFFSET 0x02cu  /* RO: address of the last ECC error */
#define ACCEL_ECC_ADDR (ACCEL_BASE + ACCEL_ECC_ADDR_OFFSET)
#define ACCEL_VECTOR_LANES_OFFSET 0x030u  /* RO: vector unit (VECTOR block) int8 lanes per cycle */
#define ACCEL_VECTOR_LANES (ACCEL_BASE + ACCEL_VECTOR_LANES_OFFSET)

/* ---- DMA: Descriptor DMA engine: 2-D copies between DRAM and SRAM on up to four channels. ---- */
#define DMA_BASE 0x10010000u
#define DMA_CH0_SRC_OFFSET 0x000u  /* RW: channel 0 source address */
#define DMA_CH0_SRC (DMA_BASE + DMA_CH0_SRC_OFFSET)
#define DMA_CH0_DST_OFFSET 0x004u  /* RW: channel 0 destination address */
#define DMA_CH0_DST (DMA_BASE + DMA_CH0_DST_OFFSET)
#define DMA_CH0_LEN_OFFSET 0x008u  /* RW: channel 0 bytes per row */
#define DMA_CH0_LEN (DMA_BASE + DMA_CH0_LEN_OFFSET)
#define DMA_CH0_ROWS_OFFSET 0x00cu  /* RW: channel 0 row count (>= 1) */
#define DMA_CH0_ROWS (DMA_BASE + DMA_CH0_ROWS_OFFSET)
#define DMA_CH0_ROWS_RESET 0x00000001u
#define DMA_CH0_SRC_STRIDE_OFFSET 0x010u  /* RW: channel 0 bytes between source row starts */
#define DMA_CH0_SRC_STRIDE (DMA_BASE + DMA_CH0_SRC_STRIDE_OFFSET)
#define DMA_CH0_DST_STRIDE_OFFSET 0x014u  /* RW: channel 0 bytes between destination row starts */
#define DMA_CH0_DST_STRIDE (DMA_BASE + DMA_CH0_DST_STRIDE_OFFSET)
#define DMA_CH0_NEXT_OFFSET 0x018u  /* RW: channel 0 address of the next in-memory descriptor (DMA_DESC_WORDS words, in SRAM or DRAM), 0 for none */
#define DMA_CH0_NEXT (DMA_BASE + DMA_CH0_NEXT_OFFSET)
#define DMA_CH0_CTRL_OFFSET 0x01cu  /* RW: channel 0 control */
#define DMA_CH0_CTRL (DMA_BASE + DMA_CH0_CTRL_OFFSET)
#define DMA_CH0_CTRL_START_SHIFT 0u
#define DMA_CH0_CTRL_START_MASK 0x00000001u
#define DMA_CH0_CTRL_IRQ_EN_SHIFT 1u
#define DMA_CH0_CTRL_IRQ_EN_MASK 0x00000002u
#define DMA_CH0_CTRL_SPILL_SHIFT 2u
#define DMA_CH0_CTRL_SPILL_MASK 0x00000004u
#define DMA_CH0_CTRL_ABORT_SHIFT 3u
#define DMA_CH0_CTRL_ABORT_MASK 0x00000008u
#define DMA_CH0_STATUS_OFFSET 0x020u  /* W1C: channel 0 status */
#define DMA_CH0_STATUS (DMA_BASE + DMA_CH0_STATUS_OFFSET)
#define DMA_CH0_STATUS_BUSY_SHIFT 0u
#define DMA_CH0_STATUS_BUSY_MASK 0x00000001u
#define DMA_CH0_STATUS_DONE_SHIFT 1u
#define DMA_CH0_STATUS_DONE_MASK 0x00000002u
#define DMA_CH0_STATUS_ERR_SHIFT 2u
#define DMA_CH0_STATUS_ERR_MASK 0x00000004u
#define DMA_CH0_STATUS_ERR_CODE_SHIFT 8u
#define DMA_CH0_STATUS_ERR_CODE_MASK 0x0000ff00u
#define DMA_CH1_SRC_OFFSET 0x040u  /* RW: channel 1 source address */
#define DMA_CH1_SRC (DMA_BASE + DMA_CH1_SRC_OFFSET)
#define DMA_CH1_DST_OFFSET 0x044u  /* RW: channel 1 destination address */
#define DMA_CH1_DST (DMA_BASE + DMA_CH1_DST_OFFSET)
#define DMA_CH1_LEN_OFFSET 0x048u  /* RW: channel 1 bytes per row */
#define DMA_CH1_LEN (DMA_BASE + DMA_CH1_LEN_OFFSET)
#define DMA_CH1_ROWS_OFFSET 0x04cu  /* RW: channel 1 row count (>= 1) */
#define DMA_CH1_ROWS (DMA_BASE + DMA_CH1_ROWS_OFFSET)
#define DMA_CH1_ROWS_RESET 0x00000001u
#define DMA_CH1_SRC_STRIDE_OFFSET 0x050u  /* RW: channel 1 bytes between source row starts */
#define DMA_CH1_SRC_STRIDE (DMA_BASE + DMA_CH1_SRC_STRIDE_OFFSET)
#define DMA_CH1_DST_STRIDE_OFFSET 0x054u  /* RW: channel 1 bytes between destination row starts */
#define DMA_CH1_DST_STRIDE (DMA_BASE + DMA_CH1_DST_STRIDE_OFFSET)
#define DMA_CH1_NEXT_OFFSET 0x058u  /* RW: channel 1 address of the next in-memory descriptor (DMA_DESC_WORDS words, in SRAM or DRAM), 0 for none */
#define DMA_CH1_NEXT (DMA_BASE + DMA_CH1_NEXT_OFFSET)
#define DMA_CH1_CTRL_OFFSET 0x05cu  /* RW: channel 1 control */
#define DMA_CH1_CTRL (DMA_BASE + DMA_CH1_CTRL_OFFSET)
#define DMA_CH1_CTRL_START_SHIFT 0u
#define DMA_CH1_CTRL_START_MASK 0x00000001u
#define DMA_CH1_CTRL_IRQ_EN_SHIFT 1u
#define DMA_CH1_CTRL_IRQ_EN_MASK 0x00000002u
#define DMA_CH1_CTRL_SPILL_SHIFT 2u
#define DMA_CH1_CTRL_SPILL_MASK 0x00000004u
#define DMA_CH1_CTRL_ABORT_SHIFT 3u
#define DMA_CH1_CTRL_ABORT_MASK 0x00000008u
#define DMA_CH1_STATUS_OFFSET 0x060u  /* W1C: channel 1 status */
#define DMA_CH1_STATUS (DMA_BASE + DMA_CH1_STATUS_OFFSET)
#define DMA_CH1_STATUS_BUSY_SHIFT 0u
#define DMA_CH1_STATUS_BUSY_MASK 0x00000001u
#define DMA_CH1_STATUS_DONE_SHIFT 1u
#define DMA_CH1_STATUS_DONE_MASK 0x00000002u
#define DMA_CH1_STATUS_ERR_SHIFT 2u
#define DMA_CH1_STATUS_ERR_MASK 0x00000004u
#define DMA_CH1_STATUS_ERR_CODE_SHIFT 8u
#define DMA_CH1_STATUS_ERR_CODE_MASK 0x0000ff00u
#define DMA_CH2_SRC_OFFSET 0x080u  /* RW: channel 2 source address */
#define DMA_CH2_SRC (DMA_BASE + DMA_CH2_SRC_OFFSET)
#define DMA_CH2_DST_OFFSET 0x084u  /* RW: channel 2 destination address */
#define DMA_CH2_DST (DMA_BASE + DMA_CH2_DST_OFFSET)
#define DMA_CH2_LEN_OFFSET 0x088u  /* RW: channel 2 bytes per row */
#define DMA_CH2_LEN (DMA_BASE + DMA_CH2_LEN_OFFSET)
#define DMA_CH2_ROWS_OFFSET 0x08cu  /* RW: channel 2 row count (>= 1) */
#define DMA_CH2_ROWS (DMA_BASE + DMA_CH2_ROWS_OFFSET)
#define DMA_CH2_ROWS_RESET 0x00000001u
#define DMA_CH2_SRC_STRIDE_OFFSET 0x090u  /* RW: channel 2 bytes between source row starts */
#define DMA_CH2_SRC_STRIDE (DMA_BASE + DMA_CH2_SRC_STRIDE_OFFSET)
#define DMA_CH2_DST_STRIDE_OFFSET 0x094u  /* RW: channel 2 bytes between destination row starts */
#define DMA_CH2_DST_STRIDE (DMA_BASE + DMA_CH2_DST_STRIDE_OFFSET)
#define DMA_CH2_NEXT_OFFSET 0x098u  /* RW: channel 2 address of the next in-memory descriptor (DMA_DESC_WORDS words, in SRAM or DRAM), 0 for none */
#define DMA_CH2_NEXT (DMA_BASE + DMA_CH2_NEXT_OFFSET)
#define DMA_CH2_CTRL_OFFSET 0x09cu  /* RW: channel 2 control */
#define DMA_CH2_CTRL (DMA_BASE + DMA_CH2_CTRL_OFFSET)
#define DMA_CH2_CTRL_START_SHIFT 0u
#define DMA_CH2_CTRL_START_MASK 0x00000001u
#define DMA_CH2_CTRL_IRQ_EN_SHIFT 1u
#define DMA_CH2_CTRL_IRQ_EN_MASK 0x00000002u
#define DMA_CH2_CTRL_SPILL_SHIFT 2u
#define DMA_CH2_CTRL_SPILL_MASK 0x00000004u
#define DMA_CH2_CTRL_ABORT_SHIFT 3u
#define DMA_CH2_CTRL_ABORT_MASK 0x00000008u
#define DMA_CH2_STATUS_OFFSET 0x0a0u  /* W1C: channel 2 status */
#define DMA_CH2_STATUS (DMA_BASE + DMA_CH2_STATUS_OFFSET)
#define DMA_CH2_STATUS_BUSY_SHIFT 0u
#define DMA_CH2_STATUS_BUSY_MASK 0x00000001u
#define DMA_CH2_STATUS_DONE_SHIFT 1u
#define DMA_CH2_STATUS_DONE_MASK 0x00000002u
#define DMA_CH2_STATUS_ERR_SHIFT 2u
#define DMA_CH2_STATUS_ERR_MASK 0x00000004u
#define DMA_CH2_STATUS_ERR_CODE_SHIFT 8u
#define DMA_CH2_STATUS_ERR_CODE_MASK 0x0000ff00u
#define DMA_CH3_SRC_OFFSET 0x0c0u  /* RW: channel 3 source address */
#define DMA_CH3_SRC (DMA_BASE + DMA_CH3_SRC_OFFSET)
#define DMA_CH3_DST_OFFSET 0x0c4u  /* RW: channel 3 destination address */
#define DMA_CH3_DST (DMA_BASE + DMA_CH3_DST_OFFSET)
#define DMA_CH3_LEN_OFFSET 0x0c8u  /* RW: channel 3 bytes per row */
#define DMA_CH3_LEN (DMA_BASE + DMA_CH3_LEN_OFFSET)
#define DMA_CH3_ROWS_OFFSET 0x0ccu  /* RW: channel 3 row count (>= 1) */
#define DMA_CH3_ROWS (DMA_BASE + DMA_CH3_ROWS_OFFSET)
#define DMA_CH3_ROWS_RESET 0x00000001u
#define DMA_CH3_SRC_STRIDE_OFFSET 0x0d0u  /* RW: channel 3 bytes between source row starts */
#define DMA_CH3_SRC_STRIDE (DMA_BASE + DMA_CH3_SRC_STRIDE_OFFSET)
#define DMA_CH3_DST_STRIDE_OFFSET 0x0d4u  /* RW: channel 3 bytes between destination row starts */
#define DMA_CH3_DST_STRIDE (DMA_BASE + DMA_CH3_DST_STRIDE_OFFSET)
#define DMA_CH3_NEXT_OFFSET 0x0d8u  /* RW: channel 3 address of the next in-memory descriptor (DMA_DESC_WORDS words, in SRAM or DRAM), 0 for none */
#define DMA_CH3_NEXT (DMA_BASE + DMA_CH3_NEXT_OFFSET)
#define DMA_CH3_CTRL_OFFSET 0x0dcu  /* RW: channel 3 control */
#define DMA_CH3_CTRL (DMA_BASE + DMA_CH3_CTRL_OFFSET)
#define DMA_CH3_CTRL_START_SHIFT 0u
#define DMA_CH3_CTRL_START_MASK 0x00000001u
#define DMA_CH3_CTRL_IRQ_EN_SHIFT 1u
#define DMA_CH3_CTRL_IRQ_EN_MASK 0x00000002u
#define DMA_CH3_CTRL_SPILL_SHIFT 2u
#define DMA_CH3_CTRL_SPILL_MASK 0x00000004u
#define DMA_CH3_CTRL_ABORT_SHIFT 3u
#define DMA_CH3_CTRL_ABORT_MASK 0x00000008u
#define DMA_CH3_STATUS_OFFSET 0x0e0u  /* W1C: channel 3 status */
#define DMA_CH3_STATUS (DMA_BASE + DMA_CH3_STATUS_OFFSET)
#define DMA_CH3_STATUS_BUSY_SHIFT 0u
#define DMA_CH3_STATUS_BUSY_MASK 0x00000001u
#define DMA_CH3_STATUS_DONE_SHIFT 1u
#define DMA_CH3_STATUS_DONE_MASK 0x00000002u
#define DMA_CH3_STATUS_ERR_SHIFT 2u
#define DMA_CH3_STATUS_ERR_MASK 0x00000004u
#define DMA_CH3_STATUS_ERR_CODE_SHIFT 8u
#define DMA_CH3_STATUS_ERR_CODE_MASK 0x0000ff00u

/* ---- TENSOR: Tensor core: int8 x int8 -> int32 GEMM on SRAM operands with fused requantization. ---- */
#define TENSOR_BASE 0x10020000u
#define TENSOR_CTRL_OFFSET 0x000u  /* RW: control */
#define TENSOR_CTRL (TENSOR_BASE + TENSOR_CTRL_OFFSET)
#define TENSOR_CTRL_START_SHIFT 0u
#define TENSOR_CTRL_START_MASK 0x00000001u
#define TENSOR_CTRL_IRQ_EN_SHIFT 1u
#define TENSOR_CTRL_IRQ_EN_MASK 0x00000002u
#define TENSOR_CTRL_RELU_SHIFT 2u
#define TENSOR_CTRL_RELU_MASK 0x00000004u
#define TENSOR_CTRL_RAW32_SHIFT 3u
#define TENSOR_CTRL_RAW32_MASK 0x00000008u
#define TENSOR_CTRL_BIAS_EN_SHIFT 4u
#define TENSOR_CTRL_BIAS_EN_MASK 0x00000010u
#define TENSOR_CTRL_ABORT_SHIFT 5u
#define TENSOR_CTRL_ABORT_MASK 0x00000020u
#define TENSOR_CTRL_QMODE_TFL_SHIFT 6u
#define TENSOR_CTRL_QMODE_TFL_MASK 0x00000040u
#define TENSOR_STATUS_OFFSET 0x004u  /* W1C: status */
#define TENSOR_STATUS (TENSOR_BASE + TENSOR_STATUS_OFFSET)
#define TENSOR_STATUS_BUSY_SHIFT 0u
#define TENSOR_STATUS_BUSY_MASK 0x00000001u
#define TENSOR_STATUS_DONE_SHIFT 1u
#define TENSOR_STATUS_DONE_MASK 0x00000002u
#define TENSOR_STATUS_ERR_SHIFT 2u
#define TENSOR_STATUS_ERR_MASK 0x00000004u
#define TENSOR_STATUS_ERR_CODE_SHIFT 8u
#define TENSOR_STATUS_ERR_CODE_MASK 0x0000ff00u
#define TENSOR_M_OFFSET 0x008u  /* RW: rows of A and C */
#define TENSOR_M (TENSOR_BASE + TENSOR_M_OFFSET)
#define TENSOR_N_OFFSET 0x00cu  /* RW: columns of B and C */
#define TENSOR_N (TENSOR_BASE + TENSOR_N_OFFSET)
#define TENSOR_K_OFFSET 0x010u  /* RW: columns of A, rows of B */
#define TENSOR_K (TENSOR_BASE + TENSOR_K_OFFSET)
#define TENSOR_A_ADDR_OFFSET 0x014u  /* RW: address of A (int8) */
#define TENSOR_A_ADDR (TENSOR_BASE + TENSOR_A_ADDR_OFFSET)
#define TENSOR_B_ADDR_OFFSET 0x018u  /* RW: address of B (int8) */
#define TENSOR_B_ADDR (TENSOR_BASE + TENSOR_B_ADDR_OFFSET)
#define TENSOR_C_ADDR_OFFSET 0x01cu  /* RW: address of C (int8, or int32 in RAW32 mode) */
#define TENSOR_C_ADDR (TENSOR_BASE + TENSOR_C_ADDR_OFFSET)
#define TENSOR_BIAS_ADDR_OFFSET 0x020u  /* RW: address of the int32 bias array */
#define TENSOR_BIAS_ADDR (TENSOR_BASE + TENSOR_BIAS_ADDR_OFFSET)
#define TENSOR_MULT_ADDR_OFFSET 0x024u  /* RW: address of the int32 per-channel multipliers */
#define TENSOR_MULT_ADDR (TENSOR_BASE + TENSOR_MULT_ADDR_OFFSET)
#define TENSOR_SHIFT_ADDR_OFFSET 0x028u  /* RW: address of the int32 per-channel shifts */
#define TENSOR_SHIFT_ADDR (TENSOR_BASE + TENSOR_SHIFT_ADDR_OFFSET)
#define TENSOR_A_STRIDE_OFFSET 0x02cu  /* RW: bytes between rows of A */
#define TENSOR_A_STRIDE (TENSOR_BASE + TENSOR_A_STRIDE_OFFSET)
#define TENSOR_B_STRIDE_OFFSET 0x030u  /* RW: bytes between rows of B */
#define TENSOR_B_STRIDE (TENSOR_BASE + TENSOR_B_STRIDE_OFFSET)
#define TENSOR_C_STRIDE_OFFSET 0x034u  /* RW: bytes between rows of C */
#define TENSOR_C_STRIDE (TENSOR_BASE + TENSOR_C_STRIDE_OFFSET)
#define TENSOR_ZP_OUT_OFFSET 0x038u  /* RW: output zero point, signed 8-bit in the low byte */
#define TENSOR_ZP_OUT (TENSOR_BASE + TENSOR_ZP_OUT_OFFSET)
#define TENSOR_ZP_OUT_ZP_SHIFT 0u
#define TENSOR_ZP_OUT_ZP_MASK 0x000000ffu
#define TENSOR_ACT_MIN_OFFSET 0x03cu  /* RW: int8 output clamp, lower bound (after ZP_OUT), signed 8-bit in the low byte */
#define TENSOR_ACT_MIN (TENSOR_BASE + TENSOR_ACT_MIN_OFFSET)
#define TENSOR_ACT_MIN_RESET 0x00000080u
#define TENSOR_ACT_MIN_VALUE_SHIFT 0u
#define TENSOR_ACT_MIN_VALUE_MASK 0x000000ffu
#define TENSOR_ACT_MAX_OFFSET 0x040u  /* RW: int8 output clamp, upper bound (after ZP_OUT), signed 8-bit in the low byte */
#define TENSOR_ACT_MAX (TENSOR_BASE + TENSOR_ACT_MAX_OFFSET)
#define TENSOR_ACT_MAX_RESET 0x0000007fu
#define TENSOR_ACT_MAX_VALUE_SHIFT 0u
#define TENSOR_ACT_MAX_VALUE_MASK 0x000000ffu

/* ---- PERF: Performance counters: 64-bit, free-running, cleared together. ---- */
#define PERF_BASE 0x10030000u
#define PERF_CTRL_OFFSET 0x000u  /* RW: control */
#define PERF_CTRL (PERF_BASE + PERF_CTRL_OFFSET)
#define PERF_CTRL_RESET 0x00000001u
#define PERF_CTRL_ENABLE_SHIFT 0u
#define PERF_CTRL_ENABLE_MASK 0x00000001u
#define PERF_CTRL_CLEAR_SHIFT 1u
#define PERF_CTRL_CLEAR_MASK 0x00000002u
#define PERF_CYCLES_LO_OFFSET 0x004u  /* RO: accelerator cycles since the counters were cleared (low word) */
#define PERF_CYCLES_LO (PERF_BASE + PERF_CYCLES_LO_OFFSET)
#define PERF_CYCLES_HI_OFFSET 0x008u  /* RO: accelerator cycles since the counters were cleared (high word) */
#define PERF_CYCLES_HI (PERF_BASE + PERF_CYCLES_HI_OFFSET)
#define PERF_TC_BUSY_LO_OFFSET 0x00cu  /* RO: cycles the tensor core was busy (low word) */
#define PERF_TC_BUSY_LO (PERF_BASE + PERF_TC_BUSY_LO_OFFSET)
#define PERF_TC_BUSY_HI_OFFSET 0x010u  /* RO: cycles the tensor core was busy (high word) */
#define PERF_TC_BUSY_HI (PERF_BASE + PERF_TC_BUSY_HI_OFFSET)
#define PERF_DMA_BUSY_LO_OFFSET 0x014u  /* RO: cycles at least one DMA channel was busy (low word) */
#define PERF_DMA_BUSY_LO (PERF_BASE + PERF_DMA_BUSY_LO_OFFSET)
#define PERF_DMA_BUSY_HI_OFFSET 0x018u  /* RO: cycles at least one DMA channel was busy (high word) */
#define PERF_DMA_BUSY_HI (PERF_BASE + PERF_DMA_BUSY_HI_OFFSET)
#define PERF_OVERLAP_LO_OFFSET 0x01cu  /* RO: cycles the DMA was busy together with the tensor core or the vector unit (low word) */
#define PERF_OVERLAP_LO (PERF_BASE + PERF_OVERLAP_LO_OFFSET)
#define PERF_OVERLAP_HI_OFFSET 0x020u  /* RO: cycles the DMA was busy together with the tensor core or the vector unit (high word) */
#define PERF_OVERLAP_HI (PERF_BASE + PERF_OVERLAP_HI_OFFSET)
#define PERF_MACS_LO_OFFSET 0x024u  /* RO: int8 multiply-accumulates performed (low word) */
#define PERF_MACS_LO (PERF_BASE + PERF_MACS_LO_OFFSET)
#define PERF_MACS_HI_OFFSET 0x028u  /* RO: int8 multiply-accumulates performed (high word) */
#define PERF_MACS_HI (PERF_BASE + PERF_MACS_HI_OFFSET)
#define PERF_DMA_TO_SRAM_LO_OFFSET 0x02cu  /* RO: bytes DMA wrote into SRAM (low word) */
#define PERF_DMA_TO_SRAM_LO (PERF_BASE + PERF_DMA_TO_SRAM_LO_OFFSET)
#define PERF_DMA_TO_SRAM_HI_OFFSET 0x030u  /* RO: bytes DMA wrote into SRAM (high word) */
#define PERF_DMA_TO_SRAM_HI (PERF_BASE + PERF_DMA_TO_SRAM_HI_OFFSET)
#define PERF_DMA_TO_DRAM_LO_OFFSET 0x034u  /* RO: bytes DMA wrote into DRAM (low word) */
#define PERF_DMA_TO_DRAM_LO (PERF_BASE + PERF_DMA_TO_DRAM_LO_OFFSET)
#define PERF_DMA_TO_DRAM_HI_OFFSET 0x038u  /* RO: bytes DMA wrote into DRAM (high word) */
#define PERF_DMA_TO_DRAM_HI (PERF_BASE + PERF_DMA_TO_DRAM_HI_OFFSET)
#define PERF_SRAM_RD_LO_OFFSET 0x03cu  /* RO: bytes read from SRAM (tensor core, vector unit and DMA) (low word) */
#define PERF_SRAM_RD_LO (PERF_BASE + PERF_SRAM_RD_LO_OFFSET)
#define PERF_SRAM_RD_HI_OFFSET 0x040u  /* RO: bytes read from SRAM (tensor core, vector unit and DMA) (high word) */
#define PERF_SRAM_RD_HI (PERF_BASE + PERF_SRAM_RD_HI_OFFSET)
#define PERF_SRAM_WR_LO_OFFSET 0x044u  /* RO: bytes written to SRAM (tensor core, vector unit and DMA) (low word) */
#define PERF_SRAM_WR_LO (PERF_BASE + PERF_SRAM_WR_LO_OFFSET)
#define PERF_SRAM_WR_HI_OFFSET 0x048u  /* RO: bytes written to SRAM (tensor core, vector unit and DMA) (high word) */
#define PERF_SRAM_WR_HI (PERF_BASE + PERF_SRAM_WR_HI_OFFSET)
#define PERF_DRAM_RD_LO_OFFSET 0x04cu  /* RO: bytes read from DRAM by DMA (low word) */
#define PERF_DRAM_RD_LO (PERF_BASE + PERF_DRAM_RD_LO_OFFSET)
#define PERF_DRAM_RD_HI_OFFSET 0x050u  /* RO: bytes read from DRAM by DMA (high word) */
#define PERF_DRAM_RD_HI (PERF_BASE + PERF_DRAM_RD_HI_OFFSET)
#define PERF_DRAM_WR_LO_OFFSET 0x054u  /* RO: bytes written to DRAM by DMA (low word) */
#define PERF_DRAM_WR_LO (PERF_BASE + PERF_DRAM_WR_LO_OFFSET)
#define PERF_DRAM_WR_HI_OFFSET 0x058u  /* RO: bytes written to DRAM by DMA (high word) */
#define PERF_DRAM_WR_HI (PERF_BASE + PERF_DRAM_WR_HI_OFFSET)
#define PERF_SPILLS_LO_OFFSET 0x05cu  /* RO: DMA transfers marked CTRL.SPILL (low word) */
#define PERF_SPILLS_LO (PERF_BASE + PERF_SPILLS_LO_OFFSET)
#define PERF_SPILLS_HI_OFFSET 0x060u  /* RO: DMA transfers marked CTRL.SPILL (high word) */
#define PERF_SPILLS_HI (PERF_BASE + PERF_SPILLS_HI_OFFSET)
#define PERF_SPILL_BYTES_LO_OFFSET 0x064u  /* RO: bytes moved by spill transfers (low word) */
#define PERF_SPILL_BYTES_LO (PERF_BASE + PERF_SPILL_BYTES_LO_OFFSET)
#define PERF_SPILL_BYTES_HI_OFFSET 0x068u  /* RO: bytes moved by spill transfers (high word) */
#define PERF_SPILL_BYTES_HI (PERF_BASE + PERF_SPILL_BYTES_HI_OFFSET)
#define PERF_ENERGY_NJ_LO_OFFSET 0x06cu  /* RO: energy in nanojoules (dynamic + static), from the profile's energy model (low word) */
#define PERF_ENERGY_NJ_LO (PERF_BASE + PERF_ENERGY_NJ_LO_OFFSET)
#define PERF_ENERGY_NJ_HI_OFFSET 0x070u  /* RO: energy in nanojoules (dynamic + static), from the profile's energy model (high word) */
#define PERF_ENERGY_NJ_HI (PERF_BASE + PERF_ENERGY_NJ_HI_OFFSET)
#define PERF_TC_SRAM_RD_LO_OFFSET 0x074u  /* RO: bytes the tensor core read from SRAM (operands and per-channel arrays; part of SRAM_RD) (low word) */
#define PERF_TC_SRAM_RD_LO (PERF_BASE + PERF_TC_SRAM_RD_LO_OFFSET)
#define PERF_TC_SRAM_RD_HI_OFFSET 0x078u  /* RO: bytes the tensor core read from SRAM (operands and per-channel arrays; part of SRAM_RD) (high word) */
#define PERF_TC_SRAM_RD_HI (PERF_BASE + PERF_TC_SRAM_RD_HI_OFFSET)
#define PERF_VU_BUSY_LO_OFFSET 0x07cu  /* RO: cycles the vector unit was busy (low word) */
#define PERF_VU_BUSY_LO (PERF_BASE + PERF_VU_BUSY_LO_OFFSET)
#define PERF_VU_BUSY_HI_OFFSET 0x080u  /* RO: cycles the vector unit was busy (high word) */
#define PERF_VU_BUSY_HI (PERF_BASE + PERF_VU_BUSY_HI_OFFSET)
#define PERF_VU_OPS_LO_OFFSET 0x084u  /* RO: vector unit lane operations performed (one per active lane per cycle) (low word) */
#define PERF_VU_OPS_LO (PERF_BASE + PERF_VU_OPS_LO_OFFSET)
#define PERF_VU_OPS_HI_OFFSET 0x088u  /* RO: vector unit lane operations performed (one per active lane per cycle) (high word) */
#define PERF_VU_OPS_HI (PERF_BASE + PERF_VU_OPS_HI_OFFSET)
#define PERF_VU_SRAM_RD_LO_OFFSET 0x08cu  /* RO: bytes the vector unit read from SRAM (operands and per-channel arrays; part of SRAM_RD) (low word) */
#define PERF_VU_SRAM_RD_LO (PERF_BASE + PERF_VU_SRAM_RD_LO_OFFSET)
#define PERF_VU_SRAM_RD_HI_OFFSET 0x090u  /* RO: bytes the vector unit read from SRAM (operands and per-channel arrays; part of SRAM_RD) (high word) */
#define PERF_VU_SRAM_RD_HI (PERF_BASE + PERF_VU_SRAM_RD_HI_OFFSET)
#define PERF_COMPUTE_BUSY_LO_OFFSET 0x094u  /* RO: cycles the tensor core or the vector unit (or both) was busy (low word) */
#define PERF_COMPUTE_BUSY_LO (PERF_BASE + PERF_COMPUTE_BUSY_LO_OFFSET)
#define PERF_COMPUTE_BUSY_HI_OFFSET 0x098u  /* RO: cycles the tensor core or the vector unit (or both) was busy (high word) */
#define PERF_COMPUTE_BUSY_HI (PERF_BASE + PERF_COMPUTE_BUSY_HI_OFFSET)

/* ---- VECTOR: Vector unit: the window and elementwise int8 operations of TFLite Micro, bit for bit. ---- */
#define VECTOR_BASE 0x10040000u
#define VECTOR_CTRL_OFFSET 0x000u  /* RW: control */
#define VECTOR_CTRL (VECTOR_BASE + VECTOR_CTRL_OFFSET)
#define VECTOR_CTRL_START_SHIFT 0u
#define VECTOR_CTRL_START_MASK 0x00000001u
#define VECTOR_CTRL_IRQ_EN_SHIFT 1u
#define VECTOR_CTRL_IRQ_EN_MASK 0x00000002u
#define VECTOR_CTRL_ABORT_SHIFT 2u
#define VECTOR_CTRL_ABORT_MASK 0x00000004u
#define VECTOR_STATUS_OFFSET 0x004u  /* W1C: status */
#define VECTOR_STATUS (VECTOR_BASE + VECTOR_STATUS_OFFSET)
#define VECTOR_STATUS_BUSY_SHIFT 0u
#define VECTOR_STATUS_BUSY_MASK 0x00000001u
#define VECTOR_STATUS_DONE_SHIFT 1u
#define VECTOR_STATUS_DONE_MASK 0x00000002u
#define VECTOR_STATUS_ERR_SHIFT 2u
#define VECTOR_STATUS_ERR_MASK 0x00000004u
#define VECTOR_STATUS_ERR_CODE_SHIFT 8u
#define VECTOR_STATUS_ERR_CODE_MASK 0x0000ff00u
#define VECTOR_OP_OFFSET 0x008u  /* RW: operation, a VU_OP_* constant */
#define VECTOR_OP (VECTOR_BASE + VECTOR_OP_OFFSET)
#define VECTOR_IN_H_OFFSET 0x00cu  /* RW: input tile height (pixels) */
#define VECTOR_IN_H (VECTOR_BASE + VECTOR_IN_H_OFFSET)
#define VECTOR_IN_H_RESET 0x00000001u
#define VECTOR_IN_W_OFFSET 0x010u  /* RW: input tile width (pixels) */
#define VECTOR_IN_W (VECTOR_BASE + VECTOR_IN_W_OFFSET)
#define VECTOR_IN_W_RESET 0x00000001u
#define VECTOR_C_OFFSET 0x014u  /* RW: channels (of the input; DWCONV writes C * DEPTH_MULT) */
#define VECTOR_C (VECTOR_BASE + VECTOR_C_OFFSET)
#define VECTOR_C_RESET 0x00000001u
#define VECTOR_OUT_H_OFFSET 0x018u  /* RW: output height (pixels) */
#define VECTOR_OUT_H (VECTOR_BASE + VECTOR_OUT_H_OFFSET)
#define VECTOR_OUT_H_RESET 0x00000001u
#define VECTOR_OUT_W_OFFSET 0x01cu  /* RW: output width (pixels) */
#define VECTOR_OUT_W (VECTOR_BASE + VECTOR_OUT_W_OFFSET)
#define VECTOR_OUT_W_RESET 0x00000001u
#define VECTOR_K_H_OFFSET 0x020u  /* RW: window height */
#define VECTOR_K_H (VECTOR_BASE + VECTOR_K_H_OFFSET)
#define VECTOR_K_H_RESET 0x00000001u
#define VECTOR_K_W_OFFSET 0x024u  /* RW: window width */
#define VECTOR_K_W (VECTOR_BASE + VECTOR_K_W_OFFSET)
#define VECTOR_K_W_RESET 0x00000001u
#define VECTOR_STRIDE_H_OFFSET 0x028u  /* RW: window step down */
#define VECTOR_STRIDE_H (VECTOR_BASE + VECTOR_STRIDE_H_OFFSET)
#define VECTOR_STRIDE_H_RESET 0x00000001u
#define VECTOR_STRIDE_W_OFFSET 0x02cu  /* RW: window step right */
#define VECTOR_STRIDE_W (VECTOR_BASE + VECTOR_STRIDE_W_OFFSET)
#define VECTOR_STRIDE_W_RESET 0x00000001u
#define VECTOR_PAD_T_OFFSET 0x030u  /* RW: rows of implicit padding above the tile (window row 0 starts at -PAD_T) */
#define VECTOR_PAD_T (VECTOR_BASE + VECTOR_PAD_T_OFFSET)
#define VECTOR_PAD_L_OFFSET 0x034u  /* RW: columns of implicit padding left of the tile */
#define VECTOR_PAD_L (VECTOR_BASE + VECTOR_PAD_L_OFFSET)
#define VECTOR_DEPTH_MULT_OFFSET 0x038u  /* RW: DWCONV output channels per input channel */
#define VECTOR_DEPTH_MULT (VECTOR_BASE + VECTOR_DEPTH_MULT_OFFSET)
#define VECTOR_DEPTH_MULT_RESET 0x00000001u
#define VECTOR_IN_ADDR_OFFSET 0x03cu  /* RW: address of the (first) input, int8 */
#define VECTOR_IN_ADDR (VECTOR_BASE + VECTOR_IN_ADDR_OFFSET)
#define VECTOR_IN2_ADDR_OFFSET 0x040u  /* RW: address of ADD's second input, int8 */
#define VECTOR_IN2_ADDR (VECTOR_BASE + VECTOR_IN2_ADDR_OFFSET)
#define VECTOR_OUT_ADDR_OFFSET 0x044u  /* RW: address of the output, int8 */
#define VECTOR_OUT_ADDR (VECTOR_BASE + VECTOR_OUT_ADDR_OFFSET)
#define VECTOR_W_ADDR_OFFSET 0x048u  /* RW: address of DWCONV's int8 weights [K_H][K_W][C*DEPTH_MULT] */
#define VECTOR_W_ADDR (VECTOR_BASE + VECTOR_W_ADDR_OFFSET)
#define VECTOR_BIAS_ADDR_OFFSET 0x04cu  /* RW: address of DWCONV's int32 bias per output channel, 0 for none */
#define VECTOR_BIAS_ADDR (VECTOR_BASE + VECTOR_BIAS_ADDR_OFFSET)
#define VECTOR_MULT_ADDR_OFFSET 0x050u  /* RW: address of DWCONV's int32 multipliers per output channel */
#define VECTOR_MULT_ADDR (VECTOR_BASE + VECTOR_MULT_ADDR_OFFSET)
#define VECTOR_SHIFT_ADDR_OFFSET 0x054u  /* RW: address of DWCONV's int32 signed shifts per output channel */
#define VECTOR_SHIFT_ADDR (VECTOR_BASE + VECTOR_SHIFT_ADDR_OFFSET)
#define VECTOR_IN_ROW_STRIDE_OFFSET 0x058u  /* RW: bytes between input rows */
#define VECTOR_IN_ROW_STRIDE (VECTOR_BASE + VECTOR_IN_ROW_STRIDE_OFFSET)
#define VECTOR_IN_PIX_STRIDE_OFFSET 0x05cu  /* RW: bytes between input pixels of a row */
#define VECTOR_IN_PIX_STRIDE (VECTOR_BASE + VECTOR_IN_PIX_STRIDE_OFFSET)
#define VECTOR_IN2_ROW_STRIDE_OFFSET 0x060u  /* RW: bytes between rows of the second input */
#define VECTOR_IN2_ROW_STRIDE (VECTOR_BASE + VECTOR_IN2_ROW_STRIDE_OFFSET)
#define VECTOR_IN2_PIX_STRIDE_OFFSET 0x064u  /* RW: bytes between pixels of the second input */
#define VECTOR_IN2_PIX_STRIDE (VECTOR_BASE + VECTOR_IN2_PIX_STRIDE_OFFSET)
#define VECTOR_OUT_ROW_STRIDE_OFFSET 0x068u  /* RW: bytes between output rows */
#define VECTOR_OUT_ROW_STRIDE (VECTOR_BASE + VECTOR_OUT_ROW_STRIDE_OFFSET)
#define VECTOR_OUT_PIX_STRIDE_OFFSET 0x06cu  /* RW: bytes between output pixels of a row */
#define VECTOR_OUT_PIX_STRIDE (VECTOR_BASE + VECTOR_OUT_PIX_STRIDE_OFFSET)
#define VECTOR_ZP_IN_OFFSET 0x070u  /* RW: input offset added to every input byte: TFLite's input_offset = -(input zero point), signed */
#define VECTOR_ZP_IN (VECTOR_BASE + VECTOR_ZP_IN_OFFSET)
#define VECTOR_ZP_IN2_OFFSET 0x074u  /* RW: second input's offset = -(its zero point), signed */
#define VECTOR_ZP_IN2 (VECTOR_BASE + VECTOR_ZP_IN2_OFFSET)
#define VECTOR_ZP_OUT_OFFSET 0x078u  /* RW: output zero point (FILL: the byte written), signed 8-bit in the low byte */
#define VECTOR_ZP_OUT (VECTOR_BASE + VECTOR_ZP_OUT_OFFSET)
#define VECTOR_ZP_OUT_VALUE_SHIFT 0u
#define VECTOR_ZP_OUT_VALUE_MASK 0x000000ffu
#define VECTOR_ACT_MIN_OFFSET 0x07cu  /* RW: output clamp, lower bound, signed 8-bit in the low byte */
#define VECTOR_ACT_MIN (VECTOR_BASE + VECTOR_ACT_MIN_OFFSET)
#define VECTOR_ACT_MIN_RESET 0x00000080u
#define VECTOR_ACT_MIN_VALUE_SHIFT 0u
#define VECTOR_ACT_MIN_VALUE_MASK 0x000000ffu
#define VECTOR_ACT_MAX_OFFSET 0x080u  /* RW: output clamp, upper bound, signed 8-bit in the low byte */
#define VECTOR_ACT_MAX (VECTOR_BASE + VECTOR_ACT_MAX_OFFSET)
#define VECTOR_ACT_MAX_RESET 0x0000007fu
#define VECTOR_ACT_MAX_VALUE_SHIFT 0u
#define VECTOR_ACT_MAX_VALUE_MASK 0x000000ffu
#define VECTOR_IN_MULT_OFFSET 0x084u  /* RW: ADD: input1_multiplier; SOFTMAX: input_multiplier (>= 0) */
#define VECTOR_IN_MULT (VECTOR_BASE + VECTOR_IN_MULT_OFFSET)
#define VECTOR_IN_SHIFT_OFFSET 0x088u  /* RW: ADD: input1_shift (-31..0); SOFTMAX: input_left_shift (0..31), signed */
#define VECTOR_IN_SHIFT (VECTOR_BASE + VECTOR_IN_SHIFT_OFFSET)
#define VECTOR_IN2_MULT_OFFSET 0x08cu  /* RW: ADD: input2_multiplier (>= 0) */
#define VECTOR_IN2_MULT (VECTOR_BASE + VECTOR_IN2_MULT_OFFSET)
#define VECTOR_IN2_SHIFT_OFFSET 0x090u  /* RW: ADD: input2_shift (-31..0), signed */
#define VECTOR_IN2_SHIFT (VECTOR_BASE + VECTOR_IN2_SHIFT_OFFSET)
#define VECTOR_OUT_MULT_OFFSET 0x094u  /* RW: ADD: output_multiplier (>= 0) */
#define VECTOR_OUT_MULT (VECTOR_BASE + VECTOR_OUT_MULT_OFFSET)
#define VECTOR_OUT_SHIFT_OFFSET 0x098u  /* RW: ADD: output_shift (-31..0), signed */
#define VECTOR_OUT_SHIFT (VECTOR_BASE + VECTOR_OUT_SHIFT_OFFSET)
#define VECTOR_LEFT_SHIFT_OFFSET 0x09cu  /* RW: ADD: left_shift applied to both offset inputs (0..VU_MAX_LEFT_SHIFT; TFLite uses 20) */
#define VECTOR_LEFT_SHIFT (VECTOR_BASE + VECTOR_LEFT_SHIFT_OFFSET)
#define VECTOR_DIFF_MIN_OFFSET 0x0a0u  /* RW: SOFTMAX: diff_min (<= 0), signed; inputs further below the row max output -128 */
#define VECTOR_DIFF_MIN (VECTOR_BASE + VECTOR_DIFF_MIN_OFFSET)

/* ---- access helpers ---- */
static inline uint32_t tessera_read32(uint32_t addr) { return *(volatile uint32_t *)(uintptr_t)addr; }
static inline void tessera_write32(uint32_t addr, uint32_t v) { *(volatile uint32_t *)(uintptr_t)addr = v; }
#define TESSERA_REG_READ(block, reg) tessera_read32(block##_##reg)
#define TESSERA_REG_WRITE(block, reg, v) tessera_write32(block##_##reg, (v))
#define TESSERA_FIELD_GET(block, reg, field, v) (((v) & block##_##reg##_##field##_MASK) >> block##_##reg##_##field##_SHIFT)
#define TESSERA_FIELD_PREP(block, reg, field, x) (((uint32_t)(x) << block##_##reg##_##field##_SHIFT) & block##_##reg##_##field##_MASK)

#endif /* TESSERA_REGS_H */
