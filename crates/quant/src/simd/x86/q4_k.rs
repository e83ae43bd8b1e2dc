//! Q4_K x Q8_K in the float order of llama.cpp's *repacked* kernels, which is what it runs for
//! Q4_K weights on AVX2 (arch/x86/repack.cpp, `ggml_gemv_q4_K_8x8_q8_K`): per output two f32
//! accumulators, per super-block
//! `acc = fma(f32(isum), d * d8, acc)` and `acc_min = fma(f32(imin), dmin * d8, acc_min)`
//! with `isum = sum_j sc_j * (q . q8)_j` and `imin = sum_j m_j * bsum32_j` exact integers;
//! the result is `acc - acc_min`. Its 4-token gemm (`ggml_gemm_q4_K_8x8_q8_K`) does the same
//! per 64 elements (`gemm4_tile`). The code is ours; only the order is ggml's.

use super::kquants::q4_k as kq;
use super::kquants::{hsum_pairs8, PairSlice};
use super::vnni::{halves_ps, join_i, join_ps};
use super::lanes::{spread, unspread};
use super::util::*;
use crate::blocks::{BlockQ4K, BlockQ8K, QK_K};
use std::arch::x86_64::*;

/// The exact `imin` of one (weight, activation) super-block pair, as four i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn imin_lanes(mins16: __m128i, y: &BlockQ8K) -> __m128i {
    _mm_madd_epi16(mins16, bsums32(&y.bsums))
}

/// The 32 unsigned quants of slice k: nibble k%2 of qs[32(k/2)..].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn slice(b: &BlockQ4K, k: usize) -> __m256i {
    let v = ld_u8(&b.qs, 32 * (k / 2));
    _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(4 * (k % 2) as i32)), _mm256_set1_epi8(0x0F))
}

/// One row times one column.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let (mut acc, mut acc_min) = (0f32, 0f32);
    for (wb, yb) in w.iter().zip(x) {
        let (sc, m16) = k4_prep(&wb.scales);
        let mut sumi = _mm256_setzero_si256();
        for k in 0..QK_K / 32 {
            let p = _mm256_maddubs_epi16(slice(wb, k), ld_i8(&yb.qs, 32 * k));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, k4_slice_scale(sc, k)));
        }
        acc = (hsum_i32(sumi) as f32).mul_add(h2f(wb.d) * yb.d, acc);
        acc_min = (hsum_i32_4(imin_lanes(m16, yb)) as f32).mul_add(h2f(wb.dmin) * yb.d, acc_min);
    }
    acc - acc_min
}

/// Four i32 lanes (chunks 0..4) for each of eight outputs, as four vectors of eight lanes
/// (one per chunk, lane = output).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn transpose_8x4(m: [__m128i; 8]) -> [__m256i; 4] {
    let v: [__m256i; 4] = std::array::from_fn(|o| _mm256_set_m128i(m[o + 4], m[o]));
    let (t0, t1) = (_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
    let (t2, t3) = (_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
    [_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)]
}

/// R weight rows x C activation rows (R * C <= 16) in the repacked kernels' order with the
/// float terms added every `STEP` slices of 32 (8: the gemv, 2: the 4-token gemm): outputs in
/// the lanes of one accumulator pair, lane `r * C + c`, each updated with exactly the
/// per-output operations of [`crate::emulate::kquant::repack_gemv_dot_q4_k`] /
/// [`crate::emulate::kquant::repack_gemm_dot_q4_k`].
#[target_feature(enable = "avx2,fma,f16c")]
fn repack_tile<const STEP: usize, const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    repack_body!(w, x, STEP, R, C, |wb, p, xb, _b, k0, k1| kq::sumi(wb, p, xb, k0, k1))
}

/// [`repack_tile`] with the integer core in AVX-512 VNNI on paired rows (R even): bit-identical.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn repack_tile512<const STEP: usize, const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    repack_body!(w, x, STEP, R, C, |wb, p, xb, _b, k0, k1| kq::sumi_pairs(wb, p, xb, k0, k1))
}

/// The body of [`repack_tile`] (up to 16 outputs, in two 8-lane accumulator pairs as
/// [`spread`] lays them out), with `sumi` computing the exact integer lanes.
macro_rules! repack_body {
    ($w:ident, $x:ident, $STEP:ident, $R:ident, $C:ident, $sumi:expr) => {{
    const { assert!($R * $C <= 16 && ($STEP == 2 || $STEP == 8)) };
    let nb = $x[0].len();
    assert!($w.iter().all(|r| r.len() == nb) && $x.iter().all(|c| c.len() == nb));
    let (mut acc, mut acc_min) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
    for b in 0..nb {
        let wb: [&BlockQ4K; $R] = std::array::from_fn(|r| &$w[r][b]);
        let xb: [&BlockQ8K; $C] = std::array::from_fn(|c| &$x[c][b]);
        let preps: [(__m256i, __m128i); $R] = std::array::from_fn(|r| kq::prep(wb[r]));
        let (d, d8) = spread::<$R, $C>(std::array::from_fn(|r| h2f(wb[r].d)), std::array::from_fn(|c| xb[c].d));
        let (dmin, _) = spread::<$R, $C>(std::array::from_fn(|r| h2f(wb[r].dmin)), [0f32; C]);
        let dd = [_mm256_mul_ps(d[0], d8[0]), _mm256_mul_ps(d[1], d8[1])];
        let dm = [_mm256_mul_ps(dmin[0], d8[0]), _mm256_mul_ps(dmin[1], d8[1])];
        // Per output, the mins of sub-blocks 2i, 2i+1 times their sums, lane i (exact).
        let mut mins = [[_mm_setzero_si128(); 8]; 2];
        for c in 0..$C {
            let bs = bsums32(&xb[c].bsums);
            for r in 0..$R {
                let o = r * C + c;
                mins[o / 8][o % 8] = _mm_madd_epi16(preps[r].1, bs);
            }
        }
        let groups = ($R * $C).div_ceil(8);
        let chunk_mins: [[__m256i; 4]; 2] = std::array::from_fn(|g| {
            if g >= groups {
                [_mm256_setzero_si256(); 4]
            } else if $STEP == 8 {
                let total: [__m256i; 8] = std::array::from_fn(|o| _mm256_zextsi128_si256(mins[g][o]));
                [hsum_i32_x8(total), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()]
            } else {
                transpose_8x4(mins[g])
            }
        });
        for (j, k0) in (0..QK_K / 32).step_by($STEP).enumerate() {
            let sumi = ($sumi)(wb, &preps, xb, b, k0, k0 + $STEP);
            let mut v = [[_mm256_setzero_si256(); 8]; 2];
            for r in 0..$R {
                for c in 0..$C {
                    let o = r * C + c;
                    v[o / 8][o % 8] = sumi[r][c];
                }
            }
            for g in 0..groups {
                acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum_i32_x8(v[g])), dd[g], acc[g]);
                acc_min[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(chunk_mins[g][j]), dm[g], acc_min[g]);
            }
        }
    }
    unspread([_mm256_sub_ps(acc[0], acc_min[0]), _mm256_sub_ps(acc[1], acc_min[1])])
    }};
}
use repack_body;

/// The gemv's order (`ggml_gemv_q4_K_8x8_q8_K`): `dot` for every output.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn tile<const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    if R * C == 1 {
        return [[dot(w[0], x[0]); C]; R];
    }
    repack_tile::<8, R, C>(w, x)
}

/// [`tile`] with the AVX-512 integer core (R even, or a single output); 8 rows of one token
/// (decode) by [`gemv8_512`].
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub fn tile512<const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    if R * C == 1 {
        return [[dot(w[0], x[0]); C]; R];
    }
    if R == 8 && C == 1 {
        let o = gemv8_512(std::array::from_fn(|r| w[r]), x[0]);
        return std::array::from_fn(|r| [o[r]; C]);
    }
    repack_tile512::<8, R, C>(w, x)
}

/// `vpshufb` controls for 64-quant chunk j: the 128-bit lanes of its low half (sub-block 2j)
/// take i16 scale 2j, those of its high half scale 2j + 1.
static CHUNK_SCALE: [[u8; 64]; 4] = {
    let mut m = [[0u8; 64]; 4];
    let mut j = 0;
    while j < 4 {
        let mut i = 0;
        while i < 64 {
            m[j][i] = (2 * (2 * j + i / 32) + i % 2) as u8;
            i += 1;
        }
        j += 1;
    }
    m
};

/// 8 weight rows x 1 token in the gemv's order (as [`repack_tile512`] with STEP 8 computes it:
/// the same float operations on the same exact integers, so bit-identical). Only `isum` and
/// `imin`, whole integers per super-block, are computed differently: 64 quants per 512-bit
/// operation (both nibbles of 32 `qs` bytes, one broadcast load), their scales by one
/// shuffle, `vpdpwssd` for scale and add, and the halves added at the end. The paired-row
/// core decodes 32 quants per 256-bit half and was compute-bound in decode (9-11 G MAC/s per
/// thread, `gemm_shapes`).
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn gemv8_512(w: [&[BlockQ4K]; 8], x: &[BlockQ8K]) -> [f32; 8] {
    let nb = x.len();
    assert!(w.iter().all(|r| r.len() == nb));
    let ld512 = |b: &[u8], off: usize| {
        assert!(off + 64 <= b.len());
        // SAFETY: the 64 bytes are in bounds (checked above); the load is unaligned.
        unsafe { _mm512_loadu_si512(b.as_ptr().add(off) as *const _) }
    };
    let ctrl: [__m512i; 4] = std::array::from_fn(|j| ld512(&CHUNK_SCALE[j], 0));
    // The high half of each chunk takes the high nibbles.
    let shifts = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi16(4));
    let (mut acc, mut acc_min) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    for b in 0..nb {
        let y = &x[b];
        let yq: &[u8] = bytemuck::cast_slice(&y.qs);
        let (mut isum, mut imin) = ([_mm256_setzero_si256(); 8], [_mm256_setzero_si256(); 8]);
        let (mut d, mut dmin) = ([0f32; 8], [0f32; 8]);
        for r in 0..8 {
            let wb = &w[r][b];
            let (sc, m) = k4_scales_mins(&wb.scales);
            let sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(sc))));
            let mut a = _mm512_setzero_si512();
            for (j, ctrl) in ctrl.iter().enumerate() {
                let q = _mm512_and_si512(_mm512_srlv_epi16(_mm512_broadcast_i64x4(ld_u8(&wb.qs, 32 * j)), shifts), _mm512_set1_epi8(0x0F));
                a = _mm512_dpwssd_epi32(a, _mm512_maddubs_epi16(q, ld512(yq, 64 * j)), _mm512_shuffle_epi8(sc16, *ctrl));
            }
            isum[r] = _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a));
            let m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(m)));
            imin[r] = _mm256_zextsi128_si256(imin_lanes(m16, y));
            (d[r], dmin[r]) = (h2f(wb.d), h2f(wb.dmin));
        }
        let d8 = _mm256_set1_ps(y.d);
        let (dd, dm) = (_mm256_mul_ps(ld_f32(&d, 0), d8), _mm256_mul_ps(ld_f32(&dmin, 0), d8));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum_i32_x8(isum)), dd, acc);
        acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hsum_i32_x8(imin)), dm, acc_min);
    }
    let mut out = [0f32; 8];
    st_f32(&mut out, 0, _mm256_sub_ps(acc, acc_min));
    out
}

/// The 4-token gemm's order (`ggml_gemm_q4_K_8x8_q8_K`): float terms per 64 elements.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn gemm4_tile<const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    repack_tile::<2, R, C>(w, x)
}

/// [`gemm4_tile`] with the AVX-512 integer core (R even).
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub fn gemm4_tile512<const R: usize, const C: usize>(w: [&[BlockQ4K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    repack_tile512::<2, R, C>(w, x)
}

/// [`gemm4_tile512`] for a row pair whose slices `lanes::q4_k::decode_rows` decoded, x 8
/// tokens: the per-output float operations of `repack_body` (so bit-identical) on one
/// register of 16 outputs, with the integer lane sums by [`hsum_pairs8`].
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub fn gemm4_tile512_decoded(w: [&[BlockQ4K]; 2], dec: &[PairSlice], x: [&[BlockQ8K]; 8]) -> [[f32; 8]; 2] {
    const R: usize = 2;
    const C: usize = 8;
    let nb = x[0].len();
    assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb) && dec.len() >= 8 * nb);
    let (mut acc, mut acc_min) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    for b in 0..nb {
        let wb: [&BlockQ4K; R] = std::array::from_fn(|r| &w[r][b]);
        let xb: [&BlockQ8K; C] = std::array::from_fn(|c| &x[c][b]);
        let mins16: [__m128i; R] = std::array::from_fn(|r| kq::prep(wb[r]).1);
        let (d, d8) = spread::<R, C>(std::array::from_fn(|r| h2f(wb[r].d)), std::array::from_fn(|c| xb[c].d));
        let (dmin, _) = spread::<R, C>(std::array::from_fn(|r| h2f(wb[r].dmin)), [0f32; C]);
        let dd = join_ps(_mm256_mul_ps(d[0], d8[0]), _mm256_mul_ps(d[1], d8[1]));
        let dm = join_ps(_mm256_mul_ps(dmin[0], d8[0]), _mm256_mul_ps(dmin[1], d8[1]));
        // As repack_body: per output the mins of sub-blocks 2i, 2i+1 times their sums, lane i.
        let mut mins = [[_mm_setzero_si128(); C]; R];
        for c in 0..C {
            let bs = bsums32(&xb[c].bsums);
            for r in 0..R {
                mins[r][c] = _mm_madd_epi16(mins16[r], bs);
            }
        }
        let chunk_mins = [transpose_8x4(mins[0]), transpose_8x4(mins[1])];
        for j in 0..QK_K / 64 {
            let sums = hsum_pairs8(kq::sumi_decoded512(&dec[8 * b..8 * b + 8], xb, 2 * j, 2 * j + 2));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), dd, acc);
            acc_min = _mm512_fmadd_ps(_mm512_cvtepi32_ps(join_i(chunk_mins[0][j], chunk_mins[1][j])), dm, acc_min);
        }
    }
    unspread(halves_ps(_mm512_sub_ps(acc, acc_min)))
}
