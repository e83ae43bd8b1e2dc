//! Q6_K: super-blocks of 256 weights in 16 groups of 16, `x = (d * sc) * (q - 32)` with
//! 6-bit `q` (4 low bits in `ql`, 2 high bits in `qh`) and signed 8-bit group scales.
//! In each half of 128 elements, `ql` byte `l` / `l + 32` hold elements `l` / `l + 32` (low
//! nibble) and `l + 64` / `l + 96` (high nibble); `qh` byte `l` holds the high bits of
//! elements `l`, `l+32`, `l+64`, `l+96` in bit pairs 0, 2, 4, 6. Activation partner: Q8_K.

use super::kquant_common::{make_qx_quants, nearest_int, GROUP_MAX_EPS};
use crate::blocks::{BlockQ6K, BlockQ8K, QK_K};
use bytemuck::Zeroable;
use half::f16;

/// ggml's `quantize_row_q6_K_ref`: each group fitted by `make_qx_quants(nmax 32, rmse_type 1)`
/// (weights `x^2`, 18 candidate scales), the signed group scales quantized to 8 bits against
/// the one of largest magnitude (`iscale = -128 / max_scale`, capped at 127), then every
/// weight re-rounded to -32..31 against the stored scale.
pub fn quantize_row_q6_k(x: &[f32], y: &mut [BlockQ6K]) {
    debug_assert_eq!(x.len(), y.len() * QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; QK_K / 16];
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
        for ib in 0..QK_K / 16 {
            let scale = make_qx_quants(32, &xb[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16], 1, None);
            scales[ib] = scale;
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            *yb = BlockQ6K::zeroed();
            continue;
        }
        let iscale = -128.0 / max_scale;
        yb.d = f16::from_f32(1.0 / iscale);
        for (s, &v) in yb.scales.iter_mut().zip(&scales) {
            // ggml: `MIN(127, nearest_int(.))` stored in an int8_t.
            *s = nearest_int(iscale * v).min(127) as i8;
        }
        for j in 0..QK_K / 16 {
            let d = yb.d.to_f32() * yb.scales[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(xb[16 * j + ii] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        for h in 0..QK_K / 128 {
            let lh = &l[128 * h..128 * h + 128];
            for k in 0..32 {
                let q: [u8; 4] = std::array::from_fn(|s| lh[k + 32 * s] as u8);
                yb.ql[64 * h + k] = (q[0] & 0xF) | ((q[2] & 0xF) << 4);
                yb.ql[64 * h + k + 32] = (q[1] & 0xF) | ((q[3] & 0xF) << 4);
                yb.qh[32 * h + k] = (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
            }
        }
    }
}

/// Signed level (-32..32) of element `e` of a Q6_K block.
#[inline]
pub(crate) fn q6(xb: &BlockQ6K, e: usize) -> i32 {
    let (h, s, k) = (e / 128, (e % 128) / 32, e % 32);
    let ql = xb.ql[64 * h + k + 32 * (s % 2)];
    let low = if s < 2 { ql & 0xF } else { ql >> 4 };
    let high = (xb.qh[32 * h + k] >> (2 * s)) & 3;
    (low | (high << 4)) as i32 - 32
}

/// ggml's `dequantize_row_q6_K`: `y = (d * sc) * q`.
pub fn dequantize_row_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    debug_assert_eq!(y.len(), x.len() * QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = xb.d.to_f32();
        for (e, o) in yb.iter_mut().enumerate() {
            *o = d * xb.scales[e / 16] as f32 * q6(xb, e) as f32;
        }
    }
}

/// ggml's `ggml_vec_dot_q6_K_q8_K_generic`: 8 integer lanes of `sc * q * q8` (lane `e % 8`),
/// `sums[l] += (d*d8) * lane` per super-block, lane sums added in order at the end.
pub fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sums = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let mut aux32 = [0i32; 8];
        for e in 0..QK_K {
            aux32[e % 8] += xb.scales[e / 16] as i32 * (yb.qs[e] as i32 * q6(xb, e));
        }
        let d = xb.d.to_f32() * yb.d;
        for (s, &a) in sums.iter_mut().zip(&aux32) {
            *s += d * a as f32;
        }
    }
    sums.iter().fold(0f32, |acc, &s| acc + s)
}
