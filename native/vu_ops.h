/* Public C API of the vector unit's int8 kernels: TensorFlow Lite Micro's depthwise convolution,
 * average/max pooling and Add on one flat buffer (the SRAM), bit-exact with TFLM's reference kernels.
 *
 * Usage (C):  vu_args a = {...}; rc = vu_dwconv(sram, sram_len, &a);
 * Python reaches these through native.vu_dwconv_buf / vu_pool_buf / vu_add_buf (native/__init__.py);
 * the register-level semantics are docs/accelerator.md ("Vector unit"), the numpy statement
 * asic_model/vector_unit.py. Outputs are computed into per-thread scratch and written after every
 * operand was read, so an output may alias an input.
 */
#ifndef TESSERA_VU_OPS_H
#define TESSERA_VU_OPS_H

#include <stdint.h>

/* Operands are NHWC tiles: pixel (h, w) of a tensor starts at off + h*row + w*pix; channels contiguous. */
typedef struct {
    int32_t in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_t, pad_l, depth_mult;
    int64_t in_off, in_row, in_pix, in2_off, in2_row, in2_pix, out_off, out_row, out_pix;
    int64_t w_off, bias_off, mult_off, shift_off;     /* bias_off < 0: no bias */
    int32_t zp_in, zp_in2, zp_out, act_min, act_max;
    int32_t in_mult, in_shift, in2_mult, in2_shift, out_mult, out_shift, left_shift;
} vu_args;

enum { VU_OK = 0, VU_ERR_BOUNDS = -1, VU_ERR_NOMEM = -2, VU_ERR_SHAPE = -3 };

int vu_dwconv(uint8_t *buf, int64_t buf_len, const vu_args *a);
int vu_pool(uint8_t *buf, int64_t buf_len, const vu_args *a, int32_t is_max);
int vu_add(uint8_t *buf, int64_t buf_len, const vu_args *a);

#endif
