//! F32, F16 and BF16 dot products in the order [`crate::reference::float`] documents (ggml's
//! AVX2 `ggml_vec_dot_f32` / `_f16` / `_bf16`, the scalar level's order, so NEON answers equal
//! it bit for bit): four 8-lane accumulators (here eight NEON vectors: accumulator j, lanes
//! 0..4 and 4..8) over steps of 32 elements, reduced in ggml's fixed tree; the `n % 32`
//! leftovers one by one (f32: fused into the sum; F16/BF16: in f64). BF16 multiplies and adds
//! separately and reduces in its own tree.

use super::util::*;
use half::{bf16, f16};
use std::arch::aarch64::*;

#[inline]
#[target_feature(enable = "neon")]
pub(super) fn ld4_f32(s: &[f32], i: usize) -> float32x4_t {
    ld_f32(s, i)
}

#[inline]
#[target_feature(enable = "neon")]
pub(super) fn ld4_f16(s: &[f16], i: usize) -> float32x4_t {
    h2f4(ld_u16x4(s, i))
}

#[inline]
#[target_feature(enable = "neon")]
pub(super) fn ld4_bf16(s: &[bf16], i: usize) -> float32x4_t {
    vreinterpretq_f32_u32(vshll_n_u16::<16>(ld_u16x4(s, i)))
}

/// `(a0 + a2) + (a1 + a3)` per 8-lane accumulator (as `[lo, hi]` vector pairs).
#[inline]
#[target_feature(enable = "neon")]
fn tree(a: &[float32x4_t; 8]) -> (float32x4_t, float32x4_t) {
    let lo = vaddq_f32(vaddq_f32(a[0], a[4]), vaddq_f32(a[2], a[6]));
    let hi = vaddq_f32(vaddq_f32(a[1], a[5]), vaddq_f32(a[3], a[7]));
    (lo, hi)
}

/// GGML_F32x8_REDUCE: the tree, halves added (`t[k] = s[k] + s[k + 4]`), then
/// `(t0 + t1) + (t2 + t3)`.
#[inline]
#[target_feature(enable = "neon")]
fn reduce_f32(a: &[float32x4_t; 8]) -> f32 {
    let (lo, hi) = tree(a);
    let t = vaddq_f32(lo, hi);
    let p = vpaddq_f32(t, t);
    vgetq_lane_f32::<0>(p) + vgetq_lane_f32::<1>(p)
}

/// ggml's BF16 reduce: the tree, `h[k] = s[k + 4] + s[k]`, then `(h0 + h2) + (h1 + h3)`.
#[inline]
#[target_feature(enable = "neon")]
fn reduce_bf16(a: &[float32x4_t; 8]) -> f32 {
    let (lo, hi) = tree(a);
    hsum8(lo, hi)
}

macro_rules! float_dot {
    ($name:ident, $T:ty, $load:ident, fused: $fused:literal, tail_f64: $tail64:literal, reduce: $reduce:ident, to_f32: |$v:ident| $to:expr) => {
        pub(super) mod $name {
            use super::*;

            #[inline]
            #[target_feature(enable = "neon")]
            fn to_f32($v: $T) -> f32 {
                $to
            }

            /// R weight rows x C activation rows; each output in `dot`'s exact order.
            /// Accumulator vector `2j + h` holds lanes `4h..4h+4` of ggml's accumulator j.
            #[target_feature(enable = "neon")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$T]; R], x: [&[$T]; C]) -> [[f32; C]; R] {
                let n = x[0].len();
                for wr in &w {
                    assert_eq!(wr.len(), n);
                }
                for xr in &x {
                    assert_eq!(xr.len(), n);
                }
                let np = n & !31;
                let mut acc = [[[vdupq_n_f32(0.0); 8]; C]; R];
                for i in (0..np).step_by(32) {
                    for v in 0..8 {
                        let mut xv = [vdupq_n_f32(0.0); C];
                        for c in 0..C {
                            xv[c] = $load(x[c], i + 4 * v);
                        }
                        for r in 0..R {
                            let wv = $load(w[r], i + 4 * v);
                            for c in 0..C {
                                let a = &mut acc[r][c][v];
                                *a = if $fused { vfmaq_f32(*a, wv, xv[c]) } else { vaddq_f32(vmulq_f32(wv, xv[c]), *a) };
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
        }
    };
}

float_dot!(f32_dot, f32, ld4_f32, fused: true, tail_f64: false, reduce: reduce_f32, to_f32: |v| v);
float_dot!(f16_dot, f16, ld4_f16, fused: true, tail_f64: true, reduce: reduce_f32, to_f32: |v| h2f(v));
float_dot!(bf16_dot, bf16, ld4_bf16, fused: false, tail_f64: true, reduce: reduce_bf16, to_f32: |v| f32::from_bits((v.to_bits() as u32) << 16));

/// ggml's `ggml_vec_dot_f32` as [`crate::emulate::dot_f32`] states it (for attention scores):
/// the F32 tile's order over the first `n & !31` elements, then the tail as GCC compiles it
/// (products rounded and added for the whole groups of four, the last `n % 4` fused).
#[target_feature(enable = "neon")]
pub(super) fn dot_f32(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let np = n & !31;
    let mut acc = [vdupq_n_f32(0.0); 8];
    for i in (0..np).step_by(32) {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = vfmaq_f32(*a, ld_f32(x, i + 4 * v), ld_f32(y, i + 4 * v));
        }
    }
    let mut sum = reduce_f32(&acc);
    let fused_from = np + (n - np) / 4 * 4;
    for k in np..n {
        if k < fused_from {
            sum += x[k] * y[k];
        } else {
            sum = x[k].mul_add(y[k], sum);
        }
    }
    sum
}

/// `acc[i] = fma(x[i], w, acc[i])` (attention's weighted sum of V rows), exact per element.
#[target_feature(enable = "neon")]
pub(super) fn fma_row(acc: &mut [f32], x: &[f32], w: f32) {
    let n = acc.len().min(x.len());
    let n4 = n & !3;
    for i in (0..n4).step_by(4) {
        let a = vfmaq_n_f32(ld_f32(acc, i), ld_f32(x, i), w);
        st_f32(acc, i, a);
    }
    for i in n4..n {
        acc[i] = x[i].mul_add(w, acc[i]);
    }
}
