//! llama.cpp's batched orders ([`crate::matmul::BatchKernels`]) in NEON, each bit-identical to
//! its scalar statement, so batches on aarch64 give the scalar level's (and x86's) answers:
//! - the tiled K-quant kernel ([`crate::emulate::kquant::tiled_dot`], ggml's
//!   `tiled_run_microtile_avx2`): per super-block the exact integer sums `s1 = sum scale *
//!   code * q8` and `s2 = sum min * bsum`, then `r = d * s1`, `r = fma(-dmin, s2, r)` (types
//!   with mins), `acc = fma(r, d8, acc)`;
//! - repacked Q4_K ([`crate::emulate::kquant::repack_gemv_dot_q4_k`] and `_gemm_`, ggml's
//!   `ggml_gemv_q4_K_8x8_q8_K` / `ggml_gemm_q4_K_8x8_q8_K`): `acc = fma(s1, d * d8, acc)`,
//!   `accm = fma(s2, dmin * d8, accm)` per super-block (gemv) or per 64 elements (gemm),
//!   result `acc - accm`;
//! - tinyBLAS for F32/F16/BF16 ([`crate::emulate::tinyblas`], llamafile's `sgemm.cpp`): per
//!   output one 8-lane FMA accumulator (two NEON vectors) over steps of 8, the `k % 8`
//!   leftovers as a zero-padded last step (its zero lanes still add `0 * 0`, which can turn
//!   a -0 lane into +0), then `hsum_float_8`.
//!
//! The integer work reuses [`super::kquants`]' decoders; only where the floats enter differs.

use super::float::{ld4_bf16, ld4_f16, ld4_f32};
use super::kquants::{decode_q2_k, decode_q3_k, decode_q4_k, decode_q5_k, decode_q6_k, min_products};
use super::util::*;
use crate::blocks::*;
use half::{bf16, f16};
use std::arch::aarch64::*;

/// Which batched order a K-quant tile follows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    Tiled,
    /// Repacked Q4_K: FMAs every `step` elements (256: gemv, 64: gemm).
    Repack(usize),
}

macro_rules! kbatch {
    (@tile $fname:ident, $feat:literal, $d4:ident, $W:ty, $decode:ident, $order:expr, min: $has_min:literal, off32: $off:literal) => {
        /// R weight rows x C activation rows; each output in its batched order's exact steps.
        #[target_feature(enable = $feat)]
        pub fn $fname<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
            let order: Order = $order;
            let nb = x[0].len();
            assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb));
            let mut acc = [[0f32; C]; R];
            let mut accm = [[0f32; C]; R];
            for b in 0..nb {
                for r in 0..R {
                    let p = $decode(&w[r][b]);
                    for c in 0..C {
                        let y = &x[c][b];
                        // Slice j's `scale * code * q8` (exact i32, four lanes).
                        let sl: [int32x4_t; 8] = std::array::from_fn(|j| {
                            let lo = vmulq_n_s32($d4(p.codes[2 * j], ld_i8(&y.qs, 32 * j)), p.sc[2 * j]);
                            vmlaq_n_s32(lo, $d4(p.codes[2 * j + 1], ld_i8(&y.qs, 32 * j + 16)), p.sc[2 * j + 1])
                        });
                        // Groups 4i..4i+4 of `min * bsum` (zeros for the types without mins).
                        let m = min_products(&p.mins, y);
                        match order {
                            Order::Tiled => {
                                let t = |a: &[int32x4_t]| a.iter().fold(vdupq_n_s32(0), |s, &v| vaddq_s32(s, v));
                                let mut s1 = vaddvq_s32(t(&sl));
                                if $off {
                                    // Q6_K's codes are q - 32: take 32 * scale x bsum off.
                                    s1 -= 32 * vaddvq_s32(t(&min_products(&p.sc, y)));
                                }
                                let mut v = p.d * s1 as f32;
                                if $has_min {
                                    v = (-p.dmin).mul_add(vaddvq_s32(t(&m)) as f32, v);
                                }
                                acc[r][c] = v.mul_add(y.d, acc[r][c]);
                            }
                            Order::Repack(step) => {
                                // `step / 32` slices, `step / 64` min vectors per FMA.
                                let (ns, nm) = (step / 32, step / 64);
                                for i in 0..QK_K / step {
                                    let s1 = sl[ns * i..ns * (i + 1)].iter().fold(vdupq_n_s32(0), |s, &v| vaddq_s32(s, v));
                                    let s2 = m[nm * i..nm * (i + 1)].iter().fold(vdupq_n_s32(0), |s, &v| vaddq_s32(s, v));
                                    acc[r][c] = (vaddvq_s32(s1) as f32).mul_add(p.d * y.d, acc[r][c]);
                                    accm[r][c] = (vaddvq_s32(s2) as f32).mul_add(p.dmin * y.d, accm[r][c]);
                                }
                            }
                        }
                    }
                }
            }
            std::array::from_fn(|r| {
                std::array::from_fn(|c| match order {
                    Order::Tiled => acc[r][c],
                    Order::Repack(_) => acc[r][c] - accm[r][c],
                })
            })
        }
    };
    ($name:ident, $W:ty, $decode:ident, $order:expr, min: $has_min:literal, off32: $off:literal) => {
        pub(super) mod $name {
            use super::*;
            kbatch!(@tile tile, "neon", dot4, $W, $decode, $order, min: $has_min, off32: $off);
            kbatch!(@tile tile_sdot, "neon,dotprod", dot4_sdot, $W, $decode, $order, min: $has_min, off32: $off);
        }
    };
}

kbatch!(tiled_q2_k, BlockQ2K, decode_q2_k, Order::Tiled, min: true, off32: false);
kbatch!(tiled_q3_k, BlockQ3K, decode_q3_k, Order::Tiled, min: false, off32: false);
kbatch!(tiled_q4_k, BlockQ4K, decode_q4_k, Order::Tiled, min: true, off32: false);
kbatch!(tiled_q5_k, BlockQ5K, decode_q5_k, Order::Tiled, min: true, off32: false);
kbatch!(tiled_q6_k, BlockQ6K, decode_q6_k, Order::Tiled, min: false, off32: true);
kbatch!(repack_gemv_q4_k, BlockQ4K, decode_q4_k, Order::Repack(QK_K), min: true, off32: false);
kbatch!(repack_gemm_q4_k, BlockQ4K, decode_q4_k, Order::Repack(64), min: true, off32: false);

macro_rules! tinyblas {
    ($name:ident, $T:ty, $load:ident) => {
        pub(super) mod $name {
            use super::*;

            /// Elements `i..i+8` of `s` as two vectors, zero-padded past its end
            /// (`load_partial`).
            #[inline]
            #[target_feature(enable = "neon")]
            fn ld8(s: &[$T], i: usize) -> (float32x4_t, float32x4_t) {
                if i + 8 <= s.len() {
                    return ($load(s, i), $load(s, i + 4));
                }
                let mut buf = [<$T as bytemuck::Zeroable>::zeroed(); 8];
                buf[..s.len() - i].copy_from_slice(&s[i..]);
                ($load(&buf, 0), $load(&buf, 4))
            }

            /// R weight rows x C activation rows, each output in tinyBLAS's exact order.
            #[target_feature(enable = "neon")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$T]; R], x: [&[$T]; C]) -> [[f32; C]; R] {
                let k = x[0].len();
                assert!(w.iter().all(|r| r.len() == k) && x.iter().all(|c| c.len() == k));
                let z = vdupq_n_f32(0.0);
                let mut acc = [[(z, z); C]; R];
                for i in (0..k).step_by(8) {
                    let xv: [(float32x4_t, float32x4_t); C] = std::array::from_fn(|c| ld8(x[c], i));
                    for r in 0..R {
                        let wv = ld8(w[r], i);
                        for c in 0..C {
                            let a = &mut acc[r][c];
                            a.0 = vfmaq_f32(a.0, wv.0, xv[c].0);
                            a.1 = vfmaq_f32(a.1, wv.1, xv[c].1);
                        }
                    }
                }
                std::array::from_fn(|r| std::array::from_fn(|c| hsum8(acc[r][c].0, acc[r][c].1)))
            }
        }
    };
}

tinyblas!(f32_tb, f32, ld4_f32);
tinyblas!(f16_tb, f16, ld4_f16);
tinyblas!(bf16_tb, bf16, ld4_bf16);
