//! Q8_K: the activation format of the k-quants: f32 scale, 256 signed bytes and the sums of
//! each group of 16 (`bsums`), which let the dot product apply the weights' mins without
//! touching the bytes again.

use super::kquant_common::nearest_int;
use crate::blocks::{BlockQ8K, QK_K};

/// ggml's `quantize_row_q8_K_ref`, which is also what the x86 CPU backend runs
/// (`quantize_row_q8_K` has no AVX path there): the element of largest magnitude `max`
/// (first on ties) maps to -127 via `iscale = -127 / max`; levels are `nearest_int`
/// (round half to even), capped at 127; `d = 1 / iscale` in f32. An all-zero block gets
/// `d = 0` and zero levels and sums.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let (mut max, mut amax) = (0f32, 0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            yb.d = 0.0;
            yb.qs = [0; QK_K];
            yb.bsums = [0; QK_K / 16];
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, g) in yb.bsums.iter_mut().zip(yb.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        yb.d = 1.0 / iscale;
    }
}

/// ggml's `dequantize_row_q8_K`: `y = d * q`.
pub fn dequantize_row_q8_k(x: &[BlockQ8K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        for (o, &q) in yb.iter_mut().zip(&xb.qs) {
            *o = xb.d * q as f32;
        }
    }
}
