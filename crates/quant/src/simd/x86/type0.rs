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

/// The `d` (lanes 0..4) and `s` (lanes 4..8; whatever follows `d` for Q8_0) of block `b` of
/// up to four activation rows, converted in one F16C instruction.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn column_heads<X: bytemuck::Pod, const C: usize>(x: &[&[X]; C], b: usize) -> (__m128, __m128) {
    if C == 1 {
        // Decode: one 4-byte load (lane 0 of each).
        let h = head_f16x2(&x[0][b]);
        return (h, _mm_movehdup_ps(h));
    }
    let mut h = [0u16; 8];
    for c in 0..C {
        let v = &bytemuck::bytes_of(&x[c][b])[..4];
        h[c] = u16::from_le_bytes([v[0], v[1]]);
        h[4 + c] = u16::from_le_bytes([v[2], v[3]]);
    }
    let v = _mm256_cvtph_ps(_mm_set_epi16(
        h[7] as i16, h[6] as i16, h[5] as i16, h[4] as i16, h[3] as i16, h[2] as i16, h[1] as i16, h[0] as i16,
    ));
    (_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v))
}

/// Lane `c` (< 4) of each 128-bit half of `v`, in all eight lanes (`v`'s halves are equal).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lane(v: __m256, c: usize) -> __m256 {
    match c {
        0 => _mm256_permute_ps::<0x00>(v),
        1 => _mm256_permute_ps::<0x55>(v),
        2 => _mm256_permute_ps::<0xAA>(v),
        _ => _mm256_permute_ps::<0xFF>(v),
    }
}

/// Lane `c` (< 4) of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lane4(v: __m128, c: usize) -> f32 {
    _mm_cvtss_f32(match c {
        0 => v,
        1 => _mm_movehdup_ps(v),
        2 => _mm_movehl_ps(v, v),
        _ => _mm_permute_ps::<0xFF>(v),
    })
}

/// Generates `tile::<R, C>` (C <= 4) and `dot` for one type-0 format. `decode` gives the 32
/// weight bytes, in one of three forms: `signed` (q itself: the products go through
/// [`dot_i8`]'s sign trick), `offset16` (u = q + 16 in 0..32, the bits as a Q5_0 block holds
/// them: `maddubs` takes u unsigned, and each lane subtracts 16 times its four y, computed
/// once per token and block; exact for any bytes) or `unsigned` (Q4_1/Q5_1). With `min`, the
/// weight block's offset `m` and the activation's `s` add `m * s` per block.
///
/// The scales: one multiply gives `dx * dy` for the tile's C tokens at once (lane c; the
/// same single rounding as the scalar product), and one in-lane permute broadcasts it per
/// output (measured on Zen 2: a scalar multiply and broadcast per output, and the registers
/// the per-token activations took, left the accumulators spilled to the stack).
macro_rules! type0 {
    ($name:ident, $W:ty, $X:ty, form: $form:ident, min: $has_min:literal, decode: |$wb:ident| $decode:expr) => {
        pub(super) mod $name {
            use super::*;

            /// The 32 weight bytes of a block (see the macro's forms).
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn decode($wb: &$W) -> __m256i {
                $decode
            }

            /// R weight rows x C activation rows; each output in `dot`'s exact order.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[$X]; C]) -> [[f32; C]; R] {
                const { assert!(C >= 1 && C <= 4) };
                let nb = x[0].len();
                for wr in &w {
                    assert_eq!(wr.len(), nb);
                }
                for xr in &x {
                    assert_eq!(xr.len(), nb);
                }
                let form = stringify!($form);
                let mut acc = [[_mm256_setzero_ps(); C]; R];
                let mut summs = [_mm_setzero_ps(); R];
                for b in 0..nb {
                    let (dy, sy) = column_heads(&x, b);
                    let dy2 = _mm256_set_m128(dy, dy);
                    let mut qx = [_mm256_setzero_si256(); R];
                    let mut scale = [_mm256_setzero_ps(); R];
                    for r in 0..R {
                        let wb = &w[r][b];
                        qx[r] = decode(wb);
                        let h = head_f16x2(wb);
                        scale[r] = _mm256_mul_ps(_mm256_broadcastss_ps(h), dy2);
                        if $has_min {
                            summs[r] = _mm_fmadd_ps(_mm_permute_ps::<0x55>(h), sy, summs[r]);
                        }
                    }
                    for c in 0..C {
                        let y = ld_i8(&x[c][b].qs, 0);
                        let corr = if form == "offset16" { _mm256_maddubs_epi16(_mm256_set1_epi8(16), y) } else { _mm256_setzero_si256() };
                        for r in 0..R {
                            let lanes = match form {
                                "signed" => dot_i8(qx[r], y),
                                "offset16" => _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(qx[r], y), corr), _mm256_set1_epi16(1)),
                                _ => dot_us8(qx[r], y),
                            };
                            acc[r][c] = _mm256_fmadd_ps(lane(scale[r], c), _mm256_cvtepi32_ps(lanes), acc[r][c]);
                        }
                    }
                }
                let mut out = [[0f32; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        out[r][c] = if $has_min { hsum8(acc[r][c]) + lane4(summs[r], c) } else { hsum8(acc[r][c]) };
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

type0!(q4_1, BlockQ4_1, BlockQ8_1, form: unsigned, min: true,
    decode: |b| nibbles(&b.qs));

type0!(q5_1, BlockQ5_1, BlockQ8_1, form: unsigned, min: true,
    decode: |b| five_bits(&b.qs, b.qh));

type0!(q5_0, BlockQ5_0, BlockQ8_0, form: offset16, min: false,
    decode: |b| five_bits(&b.qs, b.qh));

type0!(q8_0, BlockQ8_0, BlockQ8_0, form: signed, min: false,
    decode: |b| ld_i8(&b.qs, 0));
