//! Q4_0: blocks of 32 weights, `x = d * (q - 8)` with `q` in 0..16 and an f16 scale.
//! Low nibbles of `qs` hold elements 0..16, high nibbles 16..32. Activation partner: Q8_0.

use crate::blocks::{BlockQ4_0, BlockQ8_0, QK4_0};
use half::f16;

/// ggml's `quantize_row_q4_0_ref` (what llama-quantize uses without an imatrix): the element
/// of largest magnitude (first one on ties) maps to -8, so `d = max / -8`; each value is
/// rounded as `(int8)(x/d + 8.5)` (truncation of a positive number), capped at 15.
/// `x * id + 8.5` is rounded twice (no FMA), as ggml-base computes it on x86; gguf-py's
/// quantizer emulates an FMA instead and can differ on exact ties.
pub fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    debug_assert_eq!(x.len(), y.len() * QK4_0);
    for (xb, yb) in x.chunks_exact(QK4_0).zip(y.iter_mut()) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        for j in 0..QK4_0 / 2 {
            let q0 = ((xb[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((xb[j + QK4_0 / 2] * id + 8.5) as i8).min(15) as u8;
            yb.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// ggml's `dequantize_row_q4_0`: `y = (q - 8) * d`.
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK4_0);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK4_0)) {
        let d = xb.d.to_f32();
        for j in 0..QK4_0 / 2 {
            yb[j] = ((xb.qs[j] & 0x0F) as i32 - 8) as f32 * d;
            yb[j + QK4_0 / 2] = ((xb.qs[j] >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// ggml's `ggml_vec_dot_q4_0_q8_0_generic`: per block the exact integer dot product
/// `sumi = sum (q - 8) * q8`, then `sumf += (sumi * dx) * dy` in f32, block by block.
pub fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK4_0 / 2 {
            let v0 = (xb.qs[j] & 0x0F) as i32 - 8;
            let v1 = (xb.qs[j] >> 4) as i32 - 8;
            sumi0 += v0 * yb.qs[j] as i32;
            sumi1 += v1 * yb.qs[j + QK4_0 / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * xb.d.to_f32() * yb.d.to_f32();
    }
    sumf
}
