//! Q4_1: blocks of 32 weights, `x = d * q + m` with `q` in 0..16, f16 scale and offset.
//! Activation partner: Q8_1, whose `s = d * sum(q8)` carries `m` through the dot product.

use crate::blocks::{BlockQ4_1, BlockQ8_1, QK4_1};
use half::f16;

/// ggml's `quantize_row_q4_1_ref`: `m = min`, `d = (max - min) / 15`, levels
/// `(int8)((x - min)/d + 0.5)` capped at 15.
pub fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    debug_assert_eq!(x.len(), y.len() * QK4_1);
    for (xb, yb) in x.chunks_exact(QK4_1).zip(y.iter_mut()) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in xb {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        yb.m = f16::from_f32(min);
        for j in 0..QK4_1 / 2 {
            let q0 = (((xb[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((xb[j + QK4_1 / 2] - min) * id + 0.5) as i8).min(15) as u8;
            yb.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// ggml's `dequantize_row_q4_1`: `y = q * d + m`.
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK4_1);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK4_1)) {
        let (d, m) = (xb.d.to_f32(), xb.m.to_f32());
        for j in 0..QK4_1 / 2 {
            yb[j] = (xb.qs[j] & 0x0F) as f32 * d + m;
            yb[j + QK4_1 / 2] = (xb.qs[j] >> 4) as f32 * d + m;
        }
    }
}

/// ggml's `ggml_vec_dot_q4_1_q8_1_generic`: `sumf += (dx*dy)*sumi + mx*sy` per block.
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK4_1 / 2 {
            sumi0 += (xb.qs[j] & 0x0F) as i32 * yb.qs[j] as i32;
            sumi1 += (xb.qs[j] >> 4) as i32 * yb.qs[j + QK4_1 / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (xb.d.to_f32() * yb.d.to_f32()) * sumi as f32 + xb.m.to_f32() * yb.s.to_f32();
    }
    sumf
}
