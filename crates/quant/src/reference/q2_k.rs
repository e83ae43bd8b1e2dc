//! Q2_K: super-blocks of 256 weights in 16 groups of 16, `x = d * sc * q - dmin * m` with
//! 2-bit `q` and 4-bit `sc` (low nibble of `scales[g]`) and `m` (high nibble).
//! `qs` layout: see [`super::kquant_common::pack_2bit`]. Activation partner: Q8_K.

use super::kquant_common::{make_qkx2_quants, nearest_int, pack_2bit, Qkx2Search};
use crate::blocks::{BlockQ2K, BlockQ8K, QK_K};
use half::f16;

/// ggml's `quantize_row_q2_K_ref`: each group fitted by `make_qkx2_quants` (weights `|x|`,
/// absolute error, 16 candidate scales), the group scales and mins quantized to 4 bits
/// against the largest of each, then every weight re-rounded against the stored scales.
pub fn quantize_row_q2_k(x: &[f32], y: &mut [BlockQ2K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    const Q4SCALE: f32 = 15.0;
    let search = Qkx2Search { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut l = [0u8; QK_K];
        let mut laux = [0u8; 16];
        let mut weights = [0f32; 16];
        let mut scales = [0f32; QK_K / 16];
        let mut mins = [0f32; QK_K / 16];
        let (mut max_scale, mut max_min) = (0f32, 0f32);
        for j in 0..QK_K / 16 {
            let xg = &xb[16 * j..16 * j + 16];
            for (w, &v) in weights.iter_mut().zip(xg) {
                *w = v.abs();
            }
            (scales[j], mins[j]) =
                make_qkx2_quants(3, xg, &weights, &mut l[16 * j..16 * j + 16], &mut laux, search);
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (s, &v) in yb.scales.iter_mut().zip(&scales) {
                *s = nearest_int(iscale * v) as u8;
            }
            yb.d = f16::from_f32(max_scale / Q4SCALE);
        } else {
            yb.scales = [0; QK_K / 16];
            yb.d = f16::from_f32(0.0);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (s, &v) in yb.scales.iter_mut().zip(&mins) {
                *s |= (nearest_int(iscale * v) << 4) as u8;
            }
            yb.dmin = f16::from_f32(max_min / Q4SCALE);
        } else {
            yb.dmin = f16::from_f32(0.0);
        }
        for j in 0..QK_K / 16 {
            let d = yb.d.to_f32() * (yb.scales[j] & 0xF) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = yb.dmin.to_f32() * (yb.scales[j] >> 4) as f32;
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int((xb[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        pack_2bit(&l, &mut yb.qs);
    }
}

/// ggml's `dequantize_row_q2_K`: `y = (d * sc) * q - (dmin * m)`.
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (xb.d.to_f32(), xb.dmin.to_f32());
        // Group g covers elements 16g..16g+16: chunk g/8 of 128, bit pair (g%8)/2, and bytes
        // 0..16 or 16..32 of the chunk's 32 bytes for even / odd g.
        for g in 0..QK_K / 16 {
            let sc = xb.scales[g];
            let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
            let q = &xb.qs[32 * (g / 8) + 16 * (g % 2)..][..16];
            let shift = 2 * ((g % 8) / 2);
            for (o, &b) in yb[16 * g..16 * g + 16].iter_mut().zip(q) {
                *o = dl * ((b >> shift) & 3) as f32 - ml;
            }
        }
    }
}

/// ggml's `ggml_vec_dot_q2_K_q8_K_generic`: per super-block the integer sums
/// `isum = sum_g sc_g * sum(q * q8)` and `summs = sum_g m_g * bsums_g`, then
/// `sumf += (d8*d) * isum - (d8*dmin) * summs`.
pub fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let summs: i32 = (0..16).map(|j| yb.bsums[j] as i32 * (xb.scales[j] >> 4) as i32).sum();
        let dall = yb.d * xb.d.to_f32();
        let dmin = yb.d * xb.dmin.to_f32();
        let mut isum = 0i32;
        for g in 0..QK_K / 16 {
            let q = &xb.qs[32 * (g / 8) + 16 * (g % 2)..][..16];
            let q8 = &yb.qs[16 * g..16 * g + 16];
            let shift = 2 * ((g % 8) / 2);
            let isuml: i32 = q.iter().zip(q8).map(|(&b, &a)| a as i32 * ((b >> shift) & 3) as i32).sum();
            isum += (xb.scales[g] & 0xF) as i32 * isuml;
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}
