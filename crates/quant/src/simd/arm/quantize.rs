//! Activation quantizers, byte-identical to the scalar level's ([`crate::reference`]
//! `quantize_row_q8_0` / `_q8_1` / `_q8_k`, and `half`'s f32 -> f16): the same scale from the
//! same maximum, the same products `v * id`, rounded to nearest even (`vcvtnq_s32_f32`, which
//! is what `round_ties_even` and the reference's `nearest_int` compute for these magnitudes),
//! clamped by saturating narrows. The block scales go through the same scalar code.

use super::util::*;
use crate::blocks::*;
use half::f16;
use std::arch::aarch64::*;

/// max |v| over a 32-element block (a NaN-free row gives the reference's fold).
#[inline]
#[target_feature(enable = "neon")]
fn amax(v: &[float32x4_t]) -> f32 {
    let m = v.iter().fold(vdupq_n_f32(0.0), |m, &x| vmaxq_f32(m, vabsq_f32(x)));
    vmaxvq_f32(m)
}

/// `v * id` rounded to nearest even and clamped to i8, 16 values from 4 vectors.
#[inline]
#[target_feature(enable = "neon")]
fn round16(v: &[float32x4_t], id: f32) -> int8x16_t {
    let r: [int32x4_t; 4] = std::array::from_fn(|i| vcvtnq_s32_f32(vmulq_n_f32(v[i], id)));
    let lo = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
    let hi = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
    vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi))
}

#[inline]
#[target_feature(enable = "neon")]
fn st_i8(dst: &mut [i8], off: usize, v: int8x16_t) {
    let d = &mut dst[off..off + 16];
    // SAFETY: d is 16 writable bytes.
    unsafe { vst1q_s8(d.as_mut_ptr(), v) }
}

/// One 32-element block as Q8_0's `(d, qs)`; also returns `sum(qs)` for Q8_1.
#[inline]
#[target_feature(enable = "neon")]
fn q8_block(x: &[f32], qs: &mut [i8; 32]) -> (f32, i32) {
    let v: [float32x4_t; 8] = std::array::from_fn(|i| ld_f32(x, 4 * i));
    let max = amax(&v);
    let id = if max != 0.0 { 127.0 / max } else { 0.0 };
    let (a, b) = (round16(&v[..4], id), round16(&v[4..], id));
    st_i8(qs, 0, a);
    st_i8(qs, 16, b);
    let sum = vaddlvq_s16(vaddq_s16(vpaddlq_s8(a), vpaddlq_s8(b)));
    (max / 127.0, sum)
}

#[target_feature(enable = "neon")]
pub(super) fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK8_0);
    for (xb, yb) in x.chunks_exact(QK8_0).zip(y.iter_mut()) {
        let (d, _) = q8_block(xb, &mut yb.qs);
        yb.d = f16::from_f32(d);
    }
}

#[target_feature(enable = "neon")]
pub(super) fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK8_1);
    for (xb, yb) in x.chunks_exact(QK8_1).zip(y.iter_mut()) {
        let (d, sum) = q8_block(xb, &mut yb.qs);
        yb.d = f16::from_f32(d);
        yb.s = f16::from_f32(d * sum as f32);
    }
}

/// ggml's `quantize_row_q8_K_ref`: the signed value of the first largest |x|, `iscale =
/// -127 / max`, codes `min(nearest_int(iscale * x), 127)`, bsums per 16.
#[target_feature(enable = "neon")]
pub(super) fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let v: [float32x4_t; 64] = std::array::from_fn(|i| ld_f32(xb, 4 * i));
        let amax = amax(&v);
        if amax == 0.0 {
            yb.d = 0.0;
            yb.qs = [0; QK_K];
            yb.bsums = [0; QK_K / 16];
            continue;
        }
        // The reference keeps the first element of largest magnitude (strict `>`).
        let max = *xb.iter().find(|v| v.abs() == amax).expect("amax is some |x|");
        let iscale = -127.0 / max;
        for g in 0..16 {
            let q = round16(&v[4 * g..4 * g + 4], iscale);
            st_i8(&mut yb.qs, 16 * g, q);
            yb.bsums[g] = vaddlvq_s8(q);
        }
        yb.d = 1.0 / iscale;
    }
}

/// f32 -> f16, four at a time with `fcvtn`; the tail through `half` (the same rounding).
#[target_feature(enable = "neon")]
pub(super) fn quantize_row_f16(x: &[f32], y: &mut [f16]) {
    assert_eq!(x.len(), y.len());
    let n4 = x.len() & !3;
    for i in (0..n4).step_by(4) {
        let h = f2h4(ld_f32(x, i));
        let d: &mut [u16] = bytemuck::cast_slice_mut(&mut y[i..i + 4]);
        // SAFETY: d is 4 writable u16.
        unsafe { vst1_u16(d.as_mut_ptr(), h) }
    }
    for i in n4..x.len() {
        y[i] = f16::from_f32(x[i]);
    }
}
