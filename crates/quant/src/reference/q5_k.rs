//! Q5_K: as Q4_K with a fifth bit per weight: `qh` bit `2c` (`2c + 1`) of byte `l` is the
//! high bit of element `64c + l` (`64c + 32 + l`). Activation partner: Q8_K.

use super::kquant_common::{get_scale_min_k4, Qkx2Search};
use super::q4_k::{k_dot, quantize_k_scales, KUnpacked};
use crate::blocks::{BlockQ5K, BlockQ8K, QK_K};

/// ggml's `quantize_row_q5_K_ref` (search: `rmin -0.5`, `rdelta 0.1`, 16 steps).
pub fn quantize_row_q5_k(x: &[f32], y: &mut [BlockQ5K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    let search = Qkx2Search { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut l = [0u8; QK_K];
        (yb.d, yb.dmin, yb.scales) = quantize_k_scales(xb, 31, search, &mut l);
        yb.qh = [0; QK_K / 8];
        for c in 0..QK_K / 64 {
            for k in 0..32 {
                let (mut l1, mut l2) = (l[64 * c + k], l[64 * c + 32 + k]);
                if l1 > 15 {
                    l1 -= 16;
                    yb.qh[k] |= 1 << (2 * c);
                }
                if l2 > 15 {
                    l2 -= 16;
                    yb.qh[k] |= 2 << (2 * c);
                }
                yb.qs[32 * c + k] = l1 | (l2 << 4);
            }
        }
    }
}

/// Level (0..32) of element `e` of a Q5_K block.
#[inline]
pub(crate) fn q5(xb: &BlockQ5K, e: usize) -> u8 {
    let (g, k) = (e / 32, e % 32);
    let low = (xb.qs[32 * (g / 2) + k] >> (4 * (g % 2))) & 0xF;
    low | (((xb.qh[k] >> g) & 1) << 4)
}

/// ggml's `dequantize_row_q5_K`: `y = (d * sc) * q - (dmin * m)`.
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (xb.d.to_f32(), xb.dmin.to_f32());
        for g in 0..QK_K / 32 {
            let (sc, m) = get_scale_min_k4(g, &xb.scales);
            let (dl, ml) = (d * sc as f32, min * m as f32);
            for (k, o) in yb[32 * g..32 * g + 32].iter_mut().enumerate() {
                *o = dl * q5(xb, 32 * g + k) as f32 - ml;
            }
        }
    }
}

/// ggml's `ggml_vec_dot_q5_K_q8_K_generic` (same accumulation as Q4_K).
pub fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    k_dot(x.iter().zip(y).map(|(xb, yb)| {
        let q = std::array::from_fn(|e| q5(xb, e) as i32);
        (KUnpacked::new(xb.d, xb.dmin, &xb.scales, q), yb)
    }))
}
