//! Q4_1, Q5_0, Q5_1 and Q8_0 dot products in ggml-cpu's AVX2 float order (arch/x86/quants.c
//! `ggml_vec_dot_q4_1_q8_1`, `_q5_0_q8_0`, `_q5_1_q8_1`, `_q8_0_q8_0`; the scalar statement
//! of that order is [`crate::emulate`]): per block, eight exact i32 lanes (lane l holds the
//! products of bytes 4l..4l+4) converted to f32 and accumulated with one FMA by
//! `dw * dx`; for the types with an offset, `summs = fma(m, s, summs)` alongside; at the end
//! ggml's `hsum_float_8`, plus `summs`. The unpacking is ours.
//!
//! Q4_0 is not here: llama.cpp runs it through its repacked gemv, a different order
//! (see [`super::q4_0`]).

use super::util::*;
use crate::blocks::*;
use std::arch::x86_64::*;

/// Generates `tile::<R, C>` and `dot` for one type-0 format. `decode` gives the 32 weight
/// bytes (signed or unsigned per `signed`); with `min`, the weight block's offset `m` and the
/// activation's `s` (the f16 after `d` in both blocks) add `m * s` per block.
macro_rules! type0 {
    ($name:ident, $W:ty, $X:ty, signed: $signed:literal, min: $has_min:literal, decode: |$wb:ident| $decode:expr) => {
        pub(super) mod $name {
            use super::*;

            /// The 32 weight bytes of a block.
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn decode($wb: &$W) -> __m256i {
                $decode
            }

            /// R weight rows x C activation rows; each output in `dot`'s exact order.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[$X]; C]) -> [[f32; C]; R] {
                let nb = x[0].len();
                for wr in &w {
                    assert_eq!(wr.len(), nb);
                }
                for xr in &x {
                    assert_eq!(xr.len(), nb);
                }
                let mut acc = [[_mm256_setzero_ps(); C]; R];
                let mut summs = [[0f32; C]; R];
                for b in 0..nb {
                    let mut qy = [_mm256_setzero_si256(); C];
                    let mut dy = [0f32; C];
                    let mut sy = [0f32; C];
                    for c in 0..C {
                        let y = &x[c][b];
                        qy[c] = ld_i8(&y.qs, 0);
                        let h = head_f16x2(y);
                        dy[c] = _mm_cvtss_f32(h);
                        if $has_min {
                            sy[c] = _mm_cvtss_f32(_mm_movehdup_ps(h));
                        }
                    }
                    for r in 0..R {
                        let wb = &w[r][b];
                        let qx = decode(wb);
                        let h = head_f16x2(wb);
                        let dx = _mm_cvtss_f32(h);
                        let mx = _mm_cvtss_f32(_mm_movehdup_ps(h));
                        for c in 0..C {
                            if $has_min {
                                summs[r][c] = mx.mul_add(sy[c], summs[r][c]);
                            }
                            let lanes = if $signed { dot_i8(qx, qy[c]) } else { dot_us8(qx, qy[c]) };
                            acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy[c]), _mm256_cvtepi32_ps(lanes), acc[r][c]);
                        }
                    }
                }
                let mut out = [[0f32; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        out[r][c] = if $has_min { hsum8(acc[r][c]) + summs[r][c] } else { hsum8(acc[r][c]) };
                    }
                }
                out
            }

            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn dot(w: &[$W], x: &[$X]) -> f32 {
                tile::<1, 1>([w], [x])[0][0]
            }
        }
    };
}

type0!(q4_1, BlockQ4_1, BlockQ8_1, signed: false, min: true,
    decode: |b| nibbles(&b.qs));

type0!(q5_1, BlockQ5_1, BlockQ8_1, signed: false, min: true,
    decode: |b| five_bits(&b.qs, b.qh));

type0!(q5_0, BlockQ5_0, BlockQ8_0, signed: true, min: false,
    decode: |b| {
        // q - 16: set the top nibble (0xF0 = -16 + nibble) where the fifth bit is clear.
        let hi = _mm256_andnot_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0xF0u8 as i8));
        _mm256_or_si256(nibbles(&b.qs), hi)
    });

type0!(q8_0, BlockQ8_0, BlockQ8_0, signed: true, min: false,
    decode: |b| ld_i8(&b.qs, 0));
