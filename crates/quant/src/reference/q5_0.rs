//! Q5_0: blocks of 32 weights, `x = d * (q - 16)` with 5-bit `q`: low 4 bits in `qs` (as
//! Q4_0), the fifth bit of element `j` in bit `j` of the little-endian u32 `qh`.
//! Activation partner: Q8_0.

use crate::blocks::{BlockQ5_0, BlockQ8_0, QK5_0};
use half::f16;

/// ggml's `quantize_row_q5_0_ref`: `d = max / -16`, levels `(int8)(x/d + 16.5)` capped at 31
/// (two roundings, no FMA; see [`super::quantize_row_q4_0`]).
pub fn quantize_row_q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
    debug_assert_eq!(x.len(), y.len() * QK5_0);
    for (xb, yb) in x.chunks_exact(QK5_0).zip(y.iter_mut()) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        let mut qh = 0u32;
        for j in 0..QK5_0 / 2 {
            let q0 = ((xb[j] * id + 16.5) as i8).min(31) as u8;
            let q1 = ((xb[j + QK5_0 / 2] * id + 16.5) as i8).min(31) as u8;
            yb.qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= ((q0 as u32 & 0x10) >> 4) << j;
            qh |= ((q1 as u32 & 0x10) >> 4) << (j + QK5_0 / 2);
        }
        yb.qh = qh.to_le_bytes();
    }
}

/// ggml's `dequantize_row_q5_0`: `y = (q - 16) * d`.
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK5_0);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK5_0)) {
        let d = xb.d.to_f32();
        let qh = u32::from_le_bytes(xb.qh);
        for j in 0..QK5_0 / 2 {
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            yb[j] = (((xb.qs[j] & 0x0F) as u32 | h0) as i32 - 16) as f32 * d;
            yb[j + QK5_0 / 2] = (((xb.qs[j] >> 4) as u32 | h1) as i32 - 16) as f32 * d;
        }
    }
}

/// ggml's `ggml_vec_dot_q5_0_q8_0_generic`: `sumf += (dx*dy) * sumi` per block.
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(xb.qh);
        let (mut sumi0, mut sumi1) = (0i32, 0i32);
        for j in 0..QK5_0 / 2 {
            let h0 = ((qh >> j) << 4) & 0x10;
            let h1 = (qh >> (j + 12)) & 0x10;
            let x0 = ((xb.qs[j] & 0x0F) as u32 | h0) as i32 - 16;
            let x1 = ((xb.qs[j] >> 4) as u32 | h1) as i32 - 16;
            sumi0 += x0 * yb.qs[j] as i32;
            sumi1 += x1 * yb.qs[j + QK5_0 / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (xb.d.to_f32() * yb.d.to_f32()) * sumi as f32;
    }
    sumf
}
