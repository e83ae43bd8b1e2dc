//! AVX-512 VNNI tiles for Q4_1, Q5_0, Q5_1 and Q8_0, bit-identical to [`super::type0`].
//!
//! ggml's AVX2 order for these types (see `type0`) turns each block into eight exact i32
//! lanes (lane l = the four products of bytes 4l..4l+4), converts them to f32 and adds them
//! to an 8-lane accumulator with `fma(dw * dx, lanes, acc)`; `hsum_float_8` at the end. The
//! lanes are exact integers, so any instruction that produces the same integers gives the
//! same floats. `vpdpbusd` does: it adds the four u8 x i8 products of each 32-bit lane to
//! an i32 accumulator in one instruction, exactly (no i16 saturation stage), where AVX2 needs
//! sign fix-ups, `vpmaddubsw` and `vpmaddwd`.
//!
//! Two tricks keep the operations per output low:
//! - **Two outputs per register.** A 512-bit register holds two outputs' eight lanes: two
//!   tokens for one weight row (batches), or two weight rows for one token (decode). One
//!   `vpdpbusd`, one conversion, one multiply and one FMA then serve both.
//! - **Unsigned weights by an offset.** `vpdpbusd` wants its first operand unsigned. A signed
//!   weight q is stored as u = q + k (Q5_0: k = 16, the bits as they sit in the block; Q8_0:
//!   k = 128, the sign bit flipped), and the lane is started at -k * (its four y) instead of
//!   0: -k*sum(y) + sum((q + k) * y) = sum(q * y), exactly. The start value depends only on
//!   the token's block, so it is computed once per tile and block and reused for every row.
//!
//! Idea of VNNI for ggml's type-0 dots: llamafile's tinyBLAS (`updot` with `_mm256_dpbusd`);
//! the offset start and the two-outputs-per-register layout are ours.

use super::util::*;
use crate::blocks::*;
use std::arch::x86_64::*;

/// The first two f16 of a block as f32: `d`, then `m`/`s` (or the bytes after `d`, unused).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn head<B: bytemuck::Pod>(b: &B) -> (f32, f32) {
    let h = &bytemuck::bytes_of(b)[..4];
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes([h[0], h[1], h[2], h[3]])));
    (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
}

/// Two 256-bit halves as one register: `lo` in lanes 0..8, `hi` in lanes 8..16.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn join_i(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn join_f(lo: f32, hi: f32) -> __m512 {
    _mm512_insertf32x8::<1>(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi))
}

/// ggml's `hsum_float_8` of each half of a two-output accumulator.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum_halves(acc: __m512) -> (f32, f32) {
    (hsum8(_mm512_castps512_ps256(acc)), hsum8(_mm512_extractf32x8_ps::<1>(acc)))
}

/// Generates `tile::<R, C>` for one type-0 format. `decode` gives the 32 weight bytes as
/// unsigned u = q + `offset`; with `min`, `m * s` is added per block as in `type0`.
macro_rules! vnni_type0 {
    ($name:ident, $W:ty, $X:ty, offset: $off:literal, min: $has_min:literal, decode: |$wb:ident| $decode:expr) => {
        pub(super) mod $name {
            use super::*;

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            fn decode($wb: &$W) -> __m256i {
                $decode
            }

            /// A token block's 32 bytes and the lane start values -offset * (sum of 4 bytes).
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn start(y: __m512i) -> __m512i {
                if $off == 0 {
                    return _mm512_setzero_si512();
                }
                let k = _mm512_set1_epi8(($off as u8) as i8);
                _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), k, y))
            }

            /// The same for a 256-bit register.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn start256(y: __m256i) -> __m256i {
                if $off == 0 {
                    return _mm256_setzero_si256();
                }
                let k = _mm256_set1_epi8(($off as u8) as i8);
                _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), k, y))
            }

            /// R weight rows x C tokens, each output bit-identical to `type0`'s `dot`. For
            /// C >= 2 (C even) the tokens go two per register; for C = 1 the rows do, and an
            /// odd last row runs in a 256-bit register.
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[$X]; C]) -> [[f32; C]; R] {
                let nb = x[0].len();
                assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb));
                assert!(C == 1 || C % 2 == 0, "token pairs");
                let mut out = [[0f32; C]; R];
                let mut summs = [[0f32; C]; R];
                if C == 1 {
                    // Decode: rows in pairs, the token's block broadcast to both halves.
                    let mut acc = [_mm512_setzero_ps(); R];
                    let mut acc1 = _mm256_setzero_ps();
                    for b in 0..nb {
                        let xb = &x[0][b];
                        let y256 = ld_i8(&xb.qs, 0);
                        let y = _mm512_broadcast_i64x4(y256);
                        let (dy, sy) = head(xb);
                        let dyv = _mm512_set1_ps(dy);
                        let st = start(y);
                        for p in 0..R / 2 {
                            let (w0, w1) = (&w[2 * p][b], &w[2 * p + 1][b]);
                            let u = join_i(decode(w0), decode(w1));
                            let ((dx0, m0), (dx1, m1)) = (head(w0), head(w1));
                            let lanes = _mm512_dpbusd_epi32(st, u, y);
                            acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(join_f(dx0, dx1), dyv), _mm512_cvtepi32_ps(lanes), acc[p]);
                            if $has_min {
                                summs[2 * p][0] = m0.mul_add(sy, summs[2 * p][0]);
                                summs[2 * p + 1][0] = m1.mul_add(sy, summs[2 * p + 1][0]);
                            }
                        }
                        if R % 2 == 1 {
                            let wl = &w[R - 1][b];
                            let (dx, m) = head(wl);
                            let lanes = _mm256_dpbusd_epi32(start256(y256), decode(wl), y256);
                            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(dx * dy), _mm256_cvtepi32_ps(lanes), acc1);
                            if $has_min {
                                summs[R - 1][0] = m.mul_add(sy, summs[R - 1][0]);
                            }
                        }
                    }
                    for p in 0..R / 2 {
                        (out[2 * p][0], out[2 * p + 1][0]) = hsum_halves(acc[p]);
                    }
                    if R % 2 == 1 {
                        out[R - 1][0] = hsum8(acc1);
                    }
                } else {
                    // Batches: tokens in pairs, each weight block broadcast to both halves.
                    let mut acc = [[_mm512_setzero_ps(); C]; R];
                    for b in 0..nb {
                        let mut y = [_mm512_setzero_si512(); C];
                        let mut st = [_mm512_setzero_si512(); C];
                        let mut dyv = [_mm512_setzero_ps(); C];
                        let mut sy = [0f32; C];
                        for p in 0..C / 2 {
                            let (x0, x1) = (&x[2 * p][b], &x[2 * p + 1][b]);
                            y[p] = join_i(ld_i8(&x0.qs, 0), ld_i8(&x1.qs, 0));
                            st[p] = start(y[p]);
                            let ((d0, s0), (d1, s1)) = (head(x0), head(x1));
                            dyv[p] = join_f(d0, d1);
                            (sy[2 * p], sy[2 * p + 1]) = (s0, s1);
                        }
                        for r in 0..R {
                            let wb = &w[r][b];
                            let u = _mm512_broadcast_i64x4(decode(wb));
                            let (dx, m) = head(wb);
                            let dxv = _mm512_set1_ps(dx);
                            for p in 0..C / 2 {
                                let lanes = _mm512_dpbusd_epi32(st[p], u, y[p]);
                                acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dxv, dyv[p]), _mm512_cvtepi32_ps(lanes), acc[r][p]);
                            }
                            if $has_min {
                                for c in 0..C {
                                    summs[r][c] = m.mul_add(sy[c], summs[r][c]);
                                }
                            }
                        }
                    }
                    for r in 0..R {
                        for p in 0..C / 2 {
                            (out[r][2 * p], out[r][2 * p + 1]) = hsum_halves(acc[r][p]);
                        }
                    }
                }
                if $has_min {
                    for r in 0..R {
                        for c in 0..C {
                            out[r][c] += summs[r][c];
                        }
                    }
                }
                out
            }
        }
    };
}

vnni_type0!(q4_1, BlockQ4_1, BlockQ8_1, offset: 0, min: true,
    decode: |b| nibbles(&b.qs));

vnni_type0!(q5_1, BlockQ5_1, BlockQ8_1, offset: 0, min: true,
    decode: |b| _mm256_or_si256(nibbles(&b.qs), _mm256_and_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0x10))));

// Q5_0's stored bits are q + 16 already: the nibble plus the fifth bit.
vnni_type0!(q5_0, BlockQ5_0, BlockQ8_0, offset: 16, min: false,
    decode: |b| _mm256_or_si256(nibbles(&b.qs), _mm256_and_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0x10))));

// Q8_0: flipping the sign bit gives q + 128 as an unsigned byte.
vnni_type0!(q8_0, BlockQ8_0, BlockQ8_0, offset: 128, min: false,
    decode: |b| _mm256_xor_si256(ld_i8(&b.qs, 0), _mm256_set1_epi8(0x80u8 as i8)));
