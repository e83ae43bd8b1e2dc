//! F32, F16 and BF16 dot products in the order [`crate::reference::float`] documents (ggml's
//! AVX2 `ggml_vec_dot_f32` / `_f16` / `_bf16`, vec.cpp and simd-mappings.h): four 8-lane
//! accumulators over steps of 32 elements, reduced in ggml's fixed tree; the `n % 32`
//! leftovers one by one (f32: fused into the sum; F16/BF16: in f64). BF16 multiplies and adds
//! separately and reduces in its own tree, as ggml's `_mm256_add_ps(_mm256_mul_ps(..))` code.
//! Bit-identical to the scalar level.

use super::util::*;
use half::{bf16, f16};
use std::arch::x86_64::*;

/// Eight consecutive elements as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn ld8_f32(s: &[f32], i: usize) -> __m256 {
    ld_f32(s, i)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn ld8_f16(s: &[f16], i: usize) -> __m256 {
    let v = &s[i..i + 8];
    // SAFETY: v is 8 f16 = 16 readable bytes; unaligned load.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(v.as_ptr() as *const __m128i) })
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn ld8_bf16(s: &[bf16], i: usize) -> __m256 {
    let v = &s[i..i + 8];
    // SAFETY: v is 8 bf16 = 16 readable bytes; unaligned load.
    let h = unsafe { _mm_loadu_si128(v.as_ptr() as *const __m128i) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

/// GGML_F32x8_REDUCE: `(a0 + a2) + (a1 + a3)`, halves added, then two `hadd`s:
/// `(t0 + t1) + (t2 + t3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn reduce_f32(a: &[__m256; 4]) -> f32 {
    let x = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
    let t = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
    let t = _mm_hadd_ps(t, t);
    _mm_cvtss_f32(_mm_hadd_ps(t, t))
}

/// ggml's BF16 reduce: `(c0 + c2) + (c1 + c3)`, halves added, then `(h0 + h2) + (h1 + h3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn reduce_bf16(c: &[__m256; 4]) -> f32 {
    let x = _mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[1], c[3]));
    let h = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
}

macro_rules! float_dot {
    ($name:ident, $T:ty, $load:ident, fused: $fused:literal, tail_f64: $tail64:literal, reduce: $reduce:ident, to_f32: |$v:ident| $to:expr) => {
        pub(super) mod $name {
            use super::*;

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn to_f32($v: $T) -> f32 {
                $to
            }

            /// R weight rows x C activation rows; each output in `dot`'s exact order.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$T]; R], x: [&[$T]; C]) -> [[f32; C]; R] {
                let n = x[0].len();
                for wr in &w {
                    assert_eq!(wr.len(), n);
                }
                for xr in &x {
                    assert_eq!(xr.len(), n);
                }
                let np = n & !31;
                let mut acc = [[[_mm256_setzero_ps(); 4]; C]; R];
                for i in (0..np).step_by(32) {
                    for j in 0..4 {
                        let mut xv = [_mm256_setzero_ps(); C];
                        for c in 0..C {
                            xv[c] = $load(x[c], i + 8 * j);
                        }
                        for r in 0..R {
                            let wv = $load(w[r], i + 8 * j);
                            for c in 0..C {
                                let a = &mut acc[r][c][j];
                                *a = if $fused { _mm256_fmadd_ps(wv, xv[c], *a) } else { _mm256_add_ps(_mm256_mul_ps(wv, xv[c]), *a) };
                            }
                        }
                    }
                }
                let mut out = [[0f32; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        let v = $reduce(&acc[r][c]);
                        out[r][c] = if $tail64 {
                            let mut s = v as f64;
                            for i in np..n {
                                s += (to_f32(w[r][i]) * to_f32(x[c][i])) as f64;
                            }
                            s as f32
                        } else {
                            let mut s = v;
                            for i in np..n {
                                s = to_f32(w[r][i]).mul_add(to_f32(x[c][i]), s);
                            }
                            s
                        };
                    }
                }
                out
            }

            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn dot(w: &[$T], x: &[$T]) -> f32 {
                tile::<1, 1>([w], [x])[0][0]
            }
        }
    };
}

float_dot!(f32_dot, f32, ld8_f32, fused: true, tail_f64: false, reduce: reduce_f32, to_f32: |v| v);
float_dot!(f16_dot, f16, ld8_f16, fused: true, tail_f64: true, reduce: reduce_f32, to_f32: |v| h2f(v));
float_dot!(bf16_dot, bf16, ld8_bf16, fused: false, tail_f64: true, reduce: reduce_bf16, to_f32: |v| f32::from_bits((v.to_bits() as u32) << 16));
