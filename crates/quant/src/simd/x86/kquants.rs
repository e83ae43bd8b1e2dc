//! Q2_K, Q3_K, Q4_K, Q5_K and Q6_K x Q8_K in ggml-cpu's AVX2 float order (arch/x86/quants.c
//! `ggml_vec_dot_q{2,3,4,5,6}_K_q8_K`): per super-block, eight exact i32 lanes where lane l sums
//! `scale * q * q8` over bytes 4l..4l+4 of each 32-element slice, converted to f32 and
//! accumulated with one FMA by `d = d8 * d`; the mins/offset terms exactly as ggml places
//! them:
//! - Q2_K: a first FMA per block, `acc = fma(-d8 * dmin, f32(lane), acc)` with lane l the
//!   mins of groups 2l, 2l+1 times their `bsums`;
//! - Q3_K: none (the -4 of a clear high bit is inside the integer products);
//! - Q5_K: a scalar `summs = fma(-d8 * dmin, f32(sum_j m_j * bsum32_j), summs)` added after
//!   the final `hsum_float_8`;
//! - Q6_K: the -32 offset subtracted from the integer lanes as `32 * (bsums x scales)`, lane l
//!   taking groups 2l and 2l+1 (see [`crate::emulate::vec_dot_q6_k_q8_k`]);
//! - Q4_K (`ggml_vec_dot_q4_K_q8_K`, the order of non-repacked Q4_K weights): a 4-lane
//!   `acc_m = fma(-d8 * dmin, f32(lane), acc_m)`, lane i the mins of sub-blocks 2i, 2i+1
//!   times their 32-element sums, reduced `(m0 + m2) + (m1 + m3)` and added after the
//!   `hsum_float_8`.
//!
//! The unpacking is ours; each slice is decoded once per weight row and reused for every
//! activation column of a tile.

use super::util::*;
use super::vnni::join_i as join512;
use crate::blocks::*;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Slice k of a weight row pair, decoded: both rows' 32 quants (row 0 in the low half) and
/// their i16 scales in the lane layout of `sumi_pairs`.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct PairSlice {
    q: __m512i,
    sc: __m512i,
}

/// The i16 pair sums `maddubs` gives for a row pair's quants `q` and a token's broadcast
/// slice `q8`; signed quants as |q| times q8 with q's sign (q8 is never -128).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn pair_products<const SIGNED: bool>(q: __m512i, q8: __m512i) -> __m512i {
    if SIGNED {
        let neg = _mm512_movepi8_mask(q);
        let y = _mm512_mask_sub_epi8(q8, neg, _mm512_setzero_si512(), q8);
        _mm512_maddubs_epi16(_mm512_abs_epi8(q), y)
    } else {
        _mm512_maddubs_epi16(q, q8)
    }
}

/// Half `h` (0: low) of a 512-bit register.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn split512(v: __m512i, h: usize) -> __m256i {
    if h == 0 {
        _mm512_castsi512_si256(v)
    } else {
        _mm512_extracti64x4_epi64::<1>(v)
    }
}

/// The sums of the eight i32 lanes of each half of `v[c]` (token c; row 0 in the low half),
/// as one register: lane `8 * r + c` is row r, token c (the `spread` layout of a 2 x 8 tile).
/// Integer sums are exact in any order, so one transposing reduction (21 operations for the
/// 16 outputs) replaces a horizontal sum per output.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn hsum_pairs8(v: [__m512i; 8]) -> __m512i {
    // Quarter q of v[c]: row q / 2, lanes 4(q % 2)..+4. Two rounds of unpack-and-add within
    // the quarters leave, for tokens 4h..4h+4, quarter q = those tokens' sums of quarter q.
    let pair = |a: __m512i, b: __m512i| _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    let quad = |a: __m512i, b: __m512i| _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    let t0 = quad(pair(v[0], v[1]), pair(v[2], v[3]));
    let t1 = quad(pair(v[4], v[5]), pair(v[6], v[7]));
    // [row 0 lanes 0-3, row 1 lanes 0-3] + [lanes 4-7] for tokens 0-3, then for 4-7.
    let l = _mm512_add_epi32(_mm512_shuffle_i64x2::<0x88>(t0, t1), _mm512_shuffle_i64x2::<0xDD>(t0, t1));
    // Quarters (r0 t0-3, r1 t0-3, r0 t4-7, r1 t4-7) -> (r0 t0-3, r0 t4-7, r1 t0-3, r1 t4-7).
    _mm512_shuffle_i64x2::<0xD8>(l, l)
}

/// `(bytes >> shift) & mask` bytewise (the 16-bit shift is safe after masking).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bits(v: __m256i, shift: usize, mask: i8) -> __m256i {
    _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift as i32)), _mm256_set1_epi8(mask))
}

/// Generates, for one k-quant: `prep(block) -> P` (per weight row and super-block),
/// `slice(block, &P, k) -> (q, scales)` for the 32 quants of slice k (unsigned, or signed when
/// `signed`), the shared integer core [`sumi`](q2_k::sumi), the `ggml_vec_dot_*` order
/// (`finish` per super-block, `result` at the end; `summs` is a 4-lane side accumulator) as
/// `tile::<R, C>` and `dot`, and `tiled_terms`: the two exact integer lane vectors whose sums
/// are `s1 = sum scale * code * q8` and `s2 = sum min * bsum` of a super-block, for
/// llama.cpp's batched orders ([`super::lanes`]).
macro_rules! kquant {
    ($name:ident, $W:ty, signed: $signed:literal,
     prep: |$pb:ident| -> $P:ty $prep:block,
     slice: |$sb:ident, $sp:ident, $k:ident| $slice:block,
     finish: |$acc:ident, $summs:ident, $sumi:ident, $fb:ident, $fp:ident, $y:ident| $finish:block,
     result: |$racc:ident, $rsumms:ident| $result:expr,
     tiled_terms: |$tsumi:ident, $tb:ident, $tp:ident, $ty:ident| $terms:block,
     pair_rows: |$rb:ident, $rp:ident| $rows:block,
     pair_terms: |$pacc:ident, $prows:ident, $py:ident| $pterms:block) => {
        pub(super) mod $name {
            use super::*;

            /// The weight side of [`pair_terms`] for a row pair's super-blocks (row 0 in the
            /// low half), once per pair and super-block.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[allow(unused_variables)]
            pub fn pair_rows($rb: [&$W; 2], $rp: &[$P; 2]) -> __m512i $rows

            /// [`tiled_terms`] of both rows of a pair for one token from its
            /// [`sumi_decoded512`] lanes: the same exact lane values in the halves.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[allow(unused_variables)]
            pub fn pair_terms($pacc: __m512i, $prows: __m512i, $py: &BlockQ8K) -> (__m512i, __m512i) $pterms

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            pub fn prep($pb: &$W) -> $P $prep

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            fn slice($sb: &$W, $sp: &$P, $k: usize) -> (__m256i, __m256i) $slice

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            fn finish($acc: &mut __m256, $summs: &mut __m128, $sumi: __m256i, $fb: &$W, $fp: &$P, $y: &BlockQ8K) $finish

            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            fn result($racc: __m256, $rsumms: __m128) -> f32 {
                $result
            }

            /// `(s1 lanes, s2 lanes)` of one super-block pair, from its `sumi` (see the macro).
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            #[allow(unused_variables)]
            pub fn tiled_terms($tsumi: __m256i, $tb: &$W, $tp: &$P, $ty: &BlockQ8K) -> (__m256i, __m256i) $terms

            /// Slices `k0..k1` of R weight super-blocks x C activation super-blocks: eight
            /// exact i32 lanes per pair, lane l summing `scale * q * q8` over bytes 4l..4l+4
            /// of each slice (the lane layout of ggml's AVX2 kernels). Each slice is decoded
            /// once and reused for the C columns.
            #[inline]
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn sumi<const R: usize, const C: usize>(w: [&$W; R], p: &[$P; R], x: [&BlockQ8K; C], k0: usize, k1: usize) -> [[__m256i; C]; R] {
                let mut sumi = [[_mm256_setzero_si256(); C]; R];
                for k in k0..k1 {
                    let mut q8 = [_mm256_setzero_si256(); C];
                    for c in 0..C {
                        q8[c] = ld_i8(&x[c].qs, 32 * k);
                    }
                    for r in 0..R {
                        let (q, sc) = slice(w[r], &p[r], k);
                        for c in 0..C {
                            let prod = if $signed {
                                _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(q8[c], q))
                            } else {
                                _mm256_maddubs_epi16(q, q8[c])
                            };
                            sumi[r][c] = _mm256_add_epi32(sumi[r][c], _mm256_madd_epi16(sc, prod));
                        }
                    }
                }
                sumi
            }

            /// [`sumi`] with AVX-512 VNNI, two weight rows per 512-bit register (R even): the
            /// same exact lanes, with `vpdpwssd` fusing the scale multiply and the add.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn sumi_pairs<const R: usize, const C: usize>(w: [&$W; R], p: &[$P; R], x: [&BlockQ8K; C], k0: usize, k1: usize) -> [[__m256i; C]; R] {
                const { assert!(R % 2 == 0) };
                let mut acc = [[_mm512_setzero_si512(); C]; R];
                for k in k0..k1 {
                    let q8: [__m512i; C] = std::array::from_fn(|c| _mm512_broadcast_i64x4(ld_i8(&x[c].qs, 32 * k)));
                    for i in 0..R / 2 {
                        let (qa, sa) = slice(w[2 * i], &p[2 * i], k);
                        let (qb, sb) = slice(w[2 * i + 1], &p[2 * i + 1], k);
                        let (q, sc) = (join512(qa, qb), join512(sa, sb));
                        for c in 0..C {
                            acc[i][c] = _mm512_dpwssd_epi32(acc[i][c], sc, pair_products::<$signed>(q, q8[c]));
                        }
                    }
                }
                std::array::from_fn(|r| std::array::from_fn(|c| split512(acc[r / 2][c], r % 2)))
            }

            /// The slices of one super-block of a row pair as [`sumi_decoded512`] reads them
            /// (`out[k]`: slice k), decoded once for every token that uses them.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn decode_pair(w: [&$W; 2], p: &[$P; 2], out: &mut [MaybeUninit<PairSlice>]) {
                for (k, o) in out.iter_mut().enumerate().take(QK_K / 32) {
                    let (qa, sa) = slice(w[0], &p[0], k);
                    let (qb, sb) = slice(w[1], &p[1], k);
                    o.write(PairSlice { q: join512(qa, qb), sc: join512(sa, sb) });
                }
            }

            /// [`sumi_pairs`] of one row pair from its slices decoded by [`decode_pair`]: the
            /// same instructions on the same values, so the same exact lanes; token c's in
            /// `[c]`, row 0 in the low half.
            #[inline]
            #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub fn sumi_decoded512<const C: usize>(d: &[PairSlice], x: [&BlockQ8K; C], k0: usize, k1: usize) -> [__m512i; C] {
                let mut acc = [_mm512_setzero_si512(); C];
                for k in k0..k1 {
                    let PairSlice { q, sc } = d[k];
                    for c in 0..C {
                        let q8 = _mm512_broadcast_i64x4(ld_i8(&x[c].qs, 32 * k));
                        acc[c] = _mm512_dpwssd_epi32(acc[c], sc, pair_products::<$signed>(q, q8));
                    }
                }
                acc
            }

            /// R weight rows x C activation rows; each output in `dot`'s exact order.
            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn tile<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
                let nb = x[0].len();
                for wr in &w {
                    assert_eq!(wr.len(), nb);
                }
                for xr in &x {
                    assert_eq!(xr.len(), nb);
                }
                let mut acc = [[_mm256_setzero_ps(); C]; R];
                let mut summs = [[_mm_setzero_ps(); C]; R];
                for b in 0..nb {
                    let wb: [&$W; R] = std::array::from_fn(|r| &w[r][b]);
                    let xb: [&BlockQ8K; C] = std::array::from_fn(|c| &x[c][b]);
                    let preps: [$P; R] = std::array::from_fn(|r| prep(wb[r]));
                    let sumi = sumi(wb, &preps, xb, 0, QK_K / 32);
                    for r in 0..R {
                        for c in 0..C {
                            finish(&mut acc[r][c], &mut summs[r][c], sumi[r][c], wb[r], &preps[r], xb[c]);
                        }
                    }
                }
                let mut out = [[0f32; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        out[r][c] = result(acc[r][c], summs[r][c]);
                    }
                }
                out
            }

            #[target_feature(enable = "avx2,fma,f16c")]
            pub fn dot(w: &[$W], x: &[BlockQ8K]) -> f32 {
                tile::<1, 1>([w], [x])[0][0]
            }
        }
    };
}

/// Four f32 lanes summed as ggml's SSE3 tail does: `(a0 + a2) + (a1 + a3)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4(x: __m128) -> f32 {
    let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)))
}

/// `bsums` as sixteen i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn bsums16(y: &BlockQ8K) -> __m256i {
    // SAFETY: bsums is 16 i16 = 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i) }
}

/// Q2_K's sixteen 4-bit mins as i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q2_mins(b: &BlockQ2K) -> __m256i {
    _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(ld128_u8(&b.scales, 0)), _mm_set1_epi8(0x0F)))
}

/// Q6_K's sixteen scales as i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn q6_scales16(b: &BlockQ6K) -> __m256i {
    // SAFETY: scales is 16 bytes; unaligned load.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(b.scales.as_ptr() as *const __m128i) })
}

/// Q6_K's -32 offset as i32 lanes: `32 * (bsums x scales)`, lane l from groups 2l, 2l+1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6_offset(b: &BlockQ6K, y: &BlockQ8K) -> __m256i {
    _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums16(y), q6_scales16(b)))
}

kquant!(q2_k, BlockQ2K, signed: false,
    prep: |b| -> [__m256i; 2] { group_scales(_mm_and_si128(ld128_u8(&b.scales, 0), _mm_set1_epi8(0x0F))) },
    slice: |b, g, k| {
        // Slice k: bits 2(k%4).. of qs[32(k/4)..]; groups 2k, 2k+1 (low nibble of scales).
        (bits(ld_u8(&b.qs, 32 * (k / 4)), 2 * (k % 4), 3), slice_scales(g, k))
    },
    finish: |acc, summs, sumi, b, p, y| {
        let (d, dmin) = (y.d * h2f(b.d), -y.d * h2f(b.dmin));
        let prod = _mm256_madd_epi16(q2_mins(b), bsums16(y));
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), *acc);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
    },
    result: |acc, summs| hsum8(acc),
    tiled_terms: |sumi, b, p, y| { (sumi, _mm256_madd_epi16(q2_mins(b), bsums16(y))) },
    pair_rows: |b, p| { join512(q2_mins(b[0]), q2_mins(b[1])) },
    pair_terms: |acc, rows, y| { (acc, _mm512_madd_epi16(rows, _mm512_broadcast_i64x4(bsums16(y)))) });

kquant!(q3_k, BlockQ3K, signed: true,
    prep: |b| -> [__m256i; 2] { group_scales(q3_scales(&b.scales)) },
    slice: |b, g, k| {
        // Slice k: bits 2(k%4).. of qs[32(k/4)..], minus 4 where bit k of hmask[l] is clear.
        let low = bits(ld_u8(&b.qs, 32 * (k / 4)), 2 * (k % 4), 3);
        let clear = _mm256_cmpeq_epi8(_mm256_and_si256(ld_u8(&b.hmask, 0), _mm256_set1_epi8((1u8 << k) as i8)), _mm256_setzero_si256());
        let q = _mm256_sub_epi8(low, _mm256_and_si256(clear, _mm256_set1_epi8(4)));
        (q, slice_scales(g, k))
    },
    finish: |acc, summs, sumi, b, p, y| {
        let d = y.d * h2f(b.d);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
    },
    result: |acc, summs| hsum8(acc),
    tiled_terms: |sumi, b, p, y| { (sumi, _mm256_setzero_si256()) },
    pair_rows: |b, p| { _mm512_setzero_si512() },
    pair_terms: |acc, rows, y| { (acc, _mm512_setzero_si512()) });

kquant!(q4_k, BlockQ4K, signed: false,
    prep: |b| -> (__m256i, __m128i) { k4_prep(&b.scales) },
    slice: |b, p, k| {
        // Slice k: nibble k%2 of qs[32(k/2)..]; one scale.
        (bits(ld_u8(&b.qs, 32 * (k / 2)), 4 * (k % 2), 0x0F), k4_slice_scale(p.0, k))
    },
    finish: |acc, summs, sumi, b, p, y| {
        // ggml_vec_dot_q4_K_q8_K keeps the mins in a 4-lane accumulator of their own.
        let (d, dmin) = (y.d * h2f(b.d), -y.d * h2f(b.dmin));
        let prod = _mm_madd_epi16(p.1, bsums32(&y.bsums));
        *summs = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), *summs);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
    },
    result: |acc, summs| hsum8(acc) + hsum4(summs),
    tiled_terms: |sumi, b, p, y| { (sumi, _mm256_zextsi128_si256(_mm_madd_epi16(p.1, bsums32(&y.bsums)))) },
    pair_rows: |b, p| { join512(_mm256_zextsi128_si256(p[0].1), _mm256_zextsi128_si256(p[1].1)) },
    pair_terms: |acc, rows, y| { (acc, _mm512_madd_epi16(rows, _mm512_broadcast_i32x4(bsums32(&y.bsums)))) });

kquant!(q5_k, BlockQ5K, signed: false,
    prep: |b| -> (__m256i, __m128i) { k4_prep(&b.scales) },
    slice: |b, p, k| {
        // Slice k: nibble k%2 of qs[32(k/2)..], fifth bit = bit k of qh[l]; one scale.
        let low = bits(ld_u8(&b.qs, 32 * (k / 2)), 4 * (k % 2), 0x0F);
        let high = _mm256_slli_epi16::<4>(bits(ld_u8(&b.qh, 0), k, 1));
        (_mm256_or_si256(low, high), k4_slice_scale(p.0, k))
    },
    finish: |acc, summs, sumi, b, p, y| {
        let (d, dmin) = (y.d * h2f(b.d), -y.d * h2f(b.dmin));
        let mins = hsum_i32_4(_mm_madd_epi16(p.1, bsums32(&y.bsums)));
        // ggml writes `summs += dmin * sum` (a scalar), which GCC contracts into an FMA.
        *summs = _mm_set_ss(dmin.mul_add(mins as f32, _mm_cvtss_f32(*summs)));
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
    },
    result: |acc, summs| hsum8(acc) + _mm_cvtss_f32(summs),
    tiled_terms: |sumi, b, p, y| { (sumi, _mm256_zextsi128_si256(_mm_madd_epi16(p.1, bsums32(&y.bsums)))) },
    pair_rows: |b, p| { join512(_mm256_zextsi128_si256(p[0].1), _mm256_zextsi128_si256(p[1].1)) },
    pair_terms: |acc, rows, y| { (acc, _mm512_madd_epi16(rows, _mm512_broadcast_i32x4(bsums32(&y.bsums)))) });

kquant!(q6_k, BlockQ6K, signed: false,
    prep: |b| -> [__m256i; 2] { group_scales(ld128_u8(&b.scales.map(|v| v as u8), 0)) },
    slice: |b, g, k| {
        // Slice k = 4h + s: nibble s/2 of ql[64h + 32(s%2)..], high bits 2s.. of qh[32h..].
        let (h, s) = (k / 4, k % 4);
        let low = bits(ld_u8(&b.ql, 64 * h + 32 * (s % 2)), 4 * (s / 2), 0x0F);
        let high = _mm256_slli_epi16::<4>(bits(ld_u8(&b.qh, 32 * h), 2 * s, 3));
        (_mm256_or_si256(low, high), slice_scales(g, k))
    },
    finish: |acc, summs, sumi, b, p, y| {
        let d = y.d * h2f(b.d);
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi, q6_offset(b, y))), *acc);
    },
    result: |acc, summs| hsum8(acc),
    tiled_terms: |sumi, b, p, y| { (_mm256_sub_epi32(sumi, q6_offset(b, y)), _mm256_setzero_si256()) },
    pair_rows: |b, p| { join512(q6_scales16(b[0]), q6_scales16(b[1])) },
    pair_terms: |acc, rows, y| {
        let offset = _mm512_slli_epi32::<5>(_mm512_madd_epi16(_mm512_broadcast_i64x4(bsums16(y)), rows));
        (_mm512_sub_epi32(acc, offset), _mm512_setzero_si512())
    });
