//! Q5_1: blocks of 32 weights, `x = d * q + m` with 5-bit `q` (fifth bits in `qh` as Q5_0).
//! Activation partner: Q8_1.

use crate::blocks::{BlockQ5_1, BlockQ8_1, QK5_1};
use half::f16;

/// ggml's `quantize_row_q5_1_ref`: `m = min`, `d = (max - min) / 31`, levels
/// `(uint8)((x - min)/d + 0.5)` (no cap: the largest value lands on 31).
pub fn quantize_row_q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
    debug_assert_eq!(x.len(), y.len() * QK5_1);
    for (xb, yb) in x.chunks_exact(QK5_1).zip(y.iter_mut()) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in xb {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        yb.m = f16::from_f32(min);
        let mut qh = 0u32;
        for j in 0..QK5_1 / 2 {
            let q0 = ((xb[j] - min) * id + 0.5) as u8;
            let q1 = ((xb[j + QK5_1 / 2] - min) * id + 0.5) as u8;
            yb.qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= ((q0 as u32 & 0x10) >> 4) << j;
            qh |= ((q1 as u32 & 0x10) >> 4) << (j + QK5_1 / 2);
        }
        yb.qh = qh.to_le_bytes();
    }
}

/// ggml's `dequantize_row_q5_1`: `y = q * d + m`.
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK5_1);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK5_1)) {
        let (d, m) = (xb.d.to_f32(), xb.m.to_f32());
        let qh = u32::from_le_bytes(xb.qh);
        for j in 0..QK5_1 / 2 {
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            yb[j] = ((xb.qs[j] & 0x0F) as u32 | h0) as f32 * d + m;
            yb[j + QK5_1 / 2] = ((xb.qs[j] >> 4) as u32 | h1) as f32 * d + m;
        }
    }
}

/// ggml's `ggml_vec_dot_q5_1_q8_1_generic`: `sumf += (dx*dy)*sumi + mx*sy` per block.
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(xb.qh);
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK5_1 / 2 {
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            sumi0 += ((xb.qs[j] & 0x0F) as u32 | h0) as i32 * yb.qs[j] as i32;
            sumi1 += ((xb.qs[j] >> 4) as u32 | h1) as i32 * yb.qs[j + QK5_1 / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (xb.d.to_f32() * yb.d.to_f32()) * sumi as f32 + xb.m.to_f32() * yb.s.to_f32();
    }
    sumf
}
