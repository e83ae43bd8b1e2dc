//! Activation quantizers, byte-identical to the reference ones (which reproduce what
//! llama.cpp's x86 CPU backend writes; tested in `tests/simd_x86.rs`):
//! - Q8_0 / Q8_1: ggml-cpu's AVX2 `quantize_row_q8_0` / `quantize_row_q8_1` (arch/x86/
//!   quants.c): `id = 127/amax`, `_mm256_round_ps` to nearest even, saturating packs.
//! - Q8_K: ggml's `quantize_row_q8_K_ref`, which is what the x86 backend runs (it has no AVX
//!   version): the element of largest magnitude, the *first* on ties, maps to -127 through
//!   `iscale = -127/max`; `nearest_int` is round-half-even for these magnitudes, so
//!   `_mm256_round_ps` gives the same integers.
//! - F16: F16C's round-to-nearest-even conversion, as `half` computes it.

use super::util::*;
use crate::blocks::{BlockQ8K, BlockQ8_0, BlockQ8_1, QK8_0, QK_K};
use half::f16;
use std::arch::x86_64::*;

/// Stores 32 bytes into `dst`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn st_i8(dst: &mut [i8; 32], v: __m256i) {
    // SAFETY: dst is exactly 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(dst.as_mut_ptr() as *mut __m256i, v) }
}

/// max |v| over four vectors, reduced as ggml does (max is exact, so any order gives the same).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn amax4(v: &[__m256; 4]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_andnot_ps(sign, v[0]);
    for &vi in &v[1..] {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, vi));
    }
    let mut m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    _mm_cvtss_f32(m4)
}

/// `v * id` rounded to nearest even, as four vectors of i32 (elements in order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_scaled(v: &[__m256; 4], id: f32) -> [__m256i; 4] {
    let mul = _mm256_set1_ps(id);
    let mut out = [_mm256_setzero_si256(); 4];
    for (o, &vi) in out.iter_mut().zip(v) {
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(vi, mul));
        *o = _mm256_cvtps_epi32(r);
    }
    out
}

/// Four vectors of i32 -> 32 bytes in element order (saturating, as ggml's packs).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pack_i8(i: &[__m256i; 4]) -> __m256i {
    // packs works within 128-bit halves; the permute restores element order.
    let a = _mm256_packs_epi32(i[0], i[1]);
    let b = _mm256_packs_epi32(i[2], i[3]);
    _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load4(x: &[f32]) -> [__m256; 4] {
    [ld_f32(x, 0), ld_f32(x, 8), ld_f32(x, 16), ld_f32(x, 24)]
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK8_0);
    for (xb, yb) in x.chunks_exact(QK8_0).zip(y.iter_mut()) {
        let v = load4(xb);
        let max = amax4(&v);
        yb.d = f2h(max / 127.0);
        let id = if max != 0.0 { 127.0 / max } else { 0.0 };
        st_i8(&mut yb.qs, pack_i8(&round_scaled(&v, id)));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK8_0);
    for (xb, yb) in x.chunks_exact(QK8_0).zip(y.iter_mut()) {
        let v = load4(xb);
        let max = amax4(&v);
        let d = max / 127.0;
        yb.d = f2h(d);
        let id = if max != 0.0 { 127.0 / max } else { 0.0 };
        let i = round_scaled(&v, id);
        // |v * id| <= 127 (up to rounding), so the sum of the unsaturated integers is the sum
        // of the stored bytes, as in ggml.
        let sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
        yb.s = f2h(d * sum as f32);
        st_i8(&mut yb.qs, pack_i8(&i));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K);
    let sign = _mm256_set1_ps(-0.0);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut m = _mm256_setzero_ps();
        for k in 0..QK_K / 8 {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, ld_f32(xb, 8 * k)));
        }
        let amax = amax4(&[m, m, m, m]);
        if amax == 0.0 {
            yb.d = 0.0;
            yb.qs = [0; QK_K];
            yb.bsums = [0; QK_K / 16];
            continue;
        }
        // The signed value of the first element reaching amax (the reference keeps the first).
        let target = _mm256_set1_ps(amax);
        let mut max = amax;
        for k in 0..QK_K / 8 {
            let hit = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, ld_f32(xb, 8 * k)), target));
            if hit != 0 {
                max = xb[8 * k + hit.trailing_zeros() as usize];
                break;
            }
        }
        let iscale = -127.0 / max;
        let cap = _mm256_set1_epi32(127);
        // Per 32 elements: the i32 sums of the two groups of 16, reduced eight at a time.
        let mut gsum = [_mm256_setzero_si256(); 16];
        for c in 0..QK_K / 32 {
            let v = load4(&xb[32 * c..32 * c + 32]);
            let mut i = round_scaled(&v, iscale);
            for ii in i.iter_mut() {
                *ii = _mm256_min_epi32(*ii, cap);
            }
            gsum[2 * c] = _mm256_add_epi32(i[0], i[1]);
            gsum[2 * c + 1] = _mm256_add_epi32(i[2], i[3]);
            let dst: &mut [i8; 32] = (&mut yb.qs[32 * c..32 * c + 32]).try_into().expect("32 bytes");
            st_i8(dst, pack_i8(&i));
        }
        let lo: [__m256i; 8] = gsum[..8].try_into().expect("8 vectors");
        let hi: [__m256i; 8] = gsum[8..].try_into().expect("8 vectors");
        let mut sums = [0i32; 16];
        // SAFETY: sums has 16 i32 (two 8-lane stores); unaligned stores.
        unsafe {
            _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, hsum_i32_x8(lo));
            _mm256_storeu_si256(sums.as_mut_ptr().add(8) as *mut __m256i, hsum_i32_x8(hi));
        }
        for (b, s) in yb.bsums.iter_mut().zip(sums) {
            *b = s as i16;
        }
        yb.d = 1.0 / iscale;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn quantize_row_f16(x: &[f32], y: &mut [f16]) {
    assert_eq!(x.len(), y.len());
    let n8 = x.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(ld_f32(x, i));
        let dst = &mut y[i..i + 8];
        // SAFETY: dst is 8 f16 = 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, h) }
    }
    for i in n8..x.len() {
        y[i] = f2h(x[i]);
    }
}
