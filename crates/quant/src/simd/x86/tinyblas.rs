//! llamafile's tinyBLAS order for F32, F16 and BF16 weights (ggml-cpu `llamafile/sgemm.cpp`,
//! `tinyBLAS<8, __m256, __m256, T, T, float>`), which llama.cpp runs for batches of 2+ tokens
//! of those types; the scalar statement is [`crate::emulate::tinyblas`]. Per output one
//! 8-lane FMA accumulator over steps of 8 elements, the `k % 8` leftovers as a zero-padded
//! last step, then `hsum`. A tile of R rows x C tokens keeps R * C accumulators; each weight
//! and activation vector is loaded (and widened) once per step and reused across the tile.

use super::float::{ld8_bf16, ld8_f16, ld8_f32};
use super::util::*;
use half::{bf16, f16};
use std::arch::x86_64::*;

macro_rules! tinyblas {
    ($name:ident, $T:ty, $load:ident) => {
        pub(super) mod $name {
            use super::*;

            /// Elements `i..` (fewer than 8) of `s`, zero-padded to 8 lanes (`load_partial`).
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn ld_partial(s: &[$T], i: usize) -> __m256 {
                let mut buf = [<$T as bytemuck::Zeroable>::zeroed(); 8];
                buf[..s.len() - i].copy_from_slice(&s[i..]);
                $load(&buf, 0)
            }

            /// R weight rows x C activation rows, each output in tinyBLAS's exact order.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$T]; R], x: [&[$T]; C]) -> [[f32; C]; R] {
                let k = x[0].len();
                assert!(w.iter().all(|r| r.len() == k) && x.iter().all(|c| c.len() == k));
                let mut acc = [[_mm256_setzero_ps(); C]; R];
                let kp = k & !7;
                for i in (0..kp).step_by(8) {
                    let xv: [__m256; C] = std::array::from_fn(|c| $load(x[c], i));
                    for r in 0..R {
                        let wv = $load(w[r], i);
                        for c in 0..C {
                            acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
                        }
                    }
                }
                if kp < k {
                    let xv: [__m256; C] = std::array::from_fn(|c| ld_partial(x[c], kp));
                    for r in 0..R {
                        let wv = ld_partial(w[r], kp);
                        for c in 0..C {
                            acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
                        }
                    }
                }
                std::array::from_fn(|r| std::array::from_fn(|c| hsum8(acc[r][c])))
            }
        }
    };
}

tinyblas!(f32_tb, f32, ld8_f32);
tinyblas!(f16_tb, f16, ld8_f16);
tinyblas!(bf16_tb, bf16, ld8_bf16);
