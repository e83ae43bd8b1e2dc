//! Q8_0: blocks of 32 signed bytes with an f16 scale, `x = d * q`. A weight format and the
//! activation format for Q4_0, Q5_0 and Q8_0 weights.
//!
//! ggml has two quantizers and they round differently:
//! - `quantize_row_q8_0_ref` (llama-quantize, i.e. Q8_0 weights in files): `id = 1/d`,
//!   `q = roundf(x * id)`, ties away from zero. Ours: [`quantize_row_q8_0_ref`].
//! - the CPU backend's `quantize_row_q8_0` on x86 with AVX/AVX2 (how llama.cpp quantizes
//!   activations, so what its outputs were computed with): `id = 127/amax` (not `1/d`),
//!   `_mm256_round_ps(_MM_ROUND_NEAREST)`, ties to even. Ours: [`quantize_row_q8_0`].
//!
//! Both store `d = f16(amax / 127)`. The two differ in the last bit of `id` and on exact ties.

use crate::blocks::{BlockQ8_0, QK8_0};
use half::f16;

fn amax(xb: &[f32]) -> f32 {
    xb.iter().fold(0f32, |a, &v| if a > v.abs() { a } else { v.abs() })
}

/// Activation quantizer matching ggml-cpu's AVX2 `quantize_row_q8_0` bit for bit.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    debug_assert_eq!(x.len(), y.len() * QK8_0);
    for (xb, yb) in x.chunks_exact(QK8_0).zip(y.iter_mut()) {
        let max = amax(xb);
        yb.d = f16::from_f32(max / 127.0);
        let id = if max != 0.0 { 127.0 / max } else { 0.0 };
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            // |v * id| <= 127 up to rounding, so the i32 -> i8 saturation (`packs`) never bites.
            *q = ((v * id).round_ties_even() as i32).clamp(-128, 127) as i8;
        }
    }
}

/// ggml's `quantize_row_q8_0_ref`, the file-format quantizer (ties away from zero).
pub fn quantize_row_q8_0_ref(x: &[f32], y: &mut [BlockQ8_0]) {
    debug_assert_eq!(x.len(), y.len() * QK8_0);
    for (xb, yb) in x.chunks_exact(QK8_0).zip(y.iter_mut()) {
        let d = amax(xb) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
        }
    }
}

/// ggml's `dequantize_row_q8_0`: `y = q * d`.
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK8_0);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK8_0)) {
        let d = xb.d.to_f32();
        for (o, &q) in yb.iter_mut().zip(&xb.qs) {
            *o = q as f32 * d;
        }
    }
}

/// ggml's `ggml_vec_dot_q8_0_q8_0_generic`: `sumf += sumi * (dx*dy)` per block.
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let sumi: i32 = xb.qs.iter().zip(&yb.qs).map(|(&a, &b)| a as i32 * b as i32).sum();
        sumf += sumi as f32 * (xb.d.to_f32() * yb.d.to_f32());
    }
    sumf
}
