//! Q8_1: Q8_0 plus `s = d * sum(q)` (f16), the activation format for Q4_1 and Q5_1, whose
//! offset `m` contributes `m * d8 * sum(q8)` to each block's dot product.
//!
//! As for Q8_0 ([`super::q8_0`]), [`quantize_row_q8_1`] reproduces ggml-cpu's AVX2 path
//! (`id = 127/amax`, ties to even) used for activations, and [`quantize_row_q8_1_ref`] ggml's
//! `quantize_row_q8_1_ref` (`id = 1/d`, `roundf`). Both compute `s = f16(sum * (amax/127))`
//! with the unrounded f32 `d`.

use crate::blocks::{BlockQ8_1, QK8_1};
use half::f16;

fn amax(xb: &[f32]) -> f32 {
    xb.iter().fold(0f32, |a, &v| if a > v.abs() { a } else { v.abs() })
}

/// Activation quantizer matching ggml-cpu's AVX2 `quantize_row_q8_1` bit for bit.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    debug_assert_eq!(x.len(), y.len() * QK8_1);
    for (xb, yb) in x.chunks_exact(QK8_1).zip(y.iter_mut()) {
        let max = amax(xb);
        let d = max / 127.0;
        yb.d = f16::from_f32(d);
        let id = if max != 0.0 { 127.0 / max } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            let r = ((v * id).round_ties_even() as i32).clamp(-128, 127);
            *q = r as i8;
            sum += r;
        }
        yb.s = f16::from_f32(d * sum as f32);
    }
}

/// ggml's `quantize_row_q8_1_ref` (ties away from zero).
pub fn quantize_row_q8_1_ref(x: &[f32], y: &mut [BlockQ8_1]) {
    debug_assert_eq!(x.len(), y.len() * QK8_1);
    for (xb, yb) in x.chunks_exact(QK8_1).zip(y.iter_mut()) {
        let d = amax(xb) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        let mut sum = 0i32;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        yb.s = f16::from_f32(sum as f32 * d);
    }
}

/// `y = q * d` (ggml has no Q8_1 dequantizer; this is the obvious one, for tests).
pub fn dequantize_row_q8_1(x: &[BlockQ8_1], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK8_1);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK8_1)) {
        let d = xb.d.to_f32();
        for (o, &q) in yb.iter_mut().zip(&xb.qs) {
            *o = q as f32 * d;
        }
    }
}
