//! Q6_K x Q8_K in `ggml_vec_dot_q6_K_q8_K`'s AVX2 float order (the order of
//! [`super::kquants::q6_k`], which decode uses for Q6_K), with the integer lanes computed 64
//! quants at a time in AVX-512.
//!
//! The order fixes, per super-block, eight exact i32 lanes (lane l sums `scale * q * q8` over
//! bytes 4l..4l+4 of each 32-quant slice, minus the -32 offset as `32 * (bsums x scales)`),
//! one conversion and one FMA. How the integers are computed is free. The AVX2 tile decodes
//! each slice of 32 in 256-bit registers and spends `maddubs`, `madd` and an add on it; here
//! two slices sit in one 512-bit register (slice 2i in the low half, 2i+1 in the high half),
//! decoded from one 64-byte load of `ql` and `qh` broadcast to both halves, and `vpdpwssd`
//! fuses the scale multiply and the add. Adding the two halves at the end of the super-block
//! gives the AVX2 lanes exactly. About half of the AVX2 tile's operations per quant: Q6_K
//! decode was compute-bound at 6-9 G MAC/s per thread (`gemm_shapes`).

use super::kquants::{bsums16, q6_scales16};
use super::util::*;
use crate::blocks::{BlockQ6K, BlockQ8K, QK_K};
use std::arch::x86_64::*;

/// 64 bytes at `s[off..off + 64]`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn ld512<T: bytemuck::Pod>(s: &[T], off: usize) -> __m512i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(off + 64 <= b.len());
    // SAFETY: the 64 bytes are in bounds (checked above); the load is unaligned.
    unsafe { _mm512_loadu_si512(b.as_ptr().add(off) as *const _) }
}

/// `(a & 0x0F) | (b & 0x30)` bytewise: a quant from its low nibble `a` and high bits `b`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn quant6(a: __m512i, b: __m512i) -> __m512i {
    let high = _mm512_and_si512(b, _mm512_set1_epi8(0x30));
    // Truth table 0xEC: (a & c) | b, with c = 0x0F in every byte.
    _mm512_ternarylogic_epi32::<0xEC>(a, high, _mm512_set1_epi8(0x0F))
}

/// `vpshufb` controls: for chunk t of a half, 128-bit lane m takes i16 element 4t + m.
static SCALE_PICK: [[u8; 64]; 2] = [scale_pick(0), scale_pick(1)];

const fn scale_pick(t: usize) -> [u8; 64] {
    let mut c = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        c[i] = (2 * (4 * t + i / 16) + i % 2) as u8;
        i += 1;
    }
    c
}

/// Per column, the eight exact i32 lanes of the AVX2 kernel for one super-block (before the
/// offset): 64-quant chunk j (slices 2j, 2j+1) uses scales 4j..4j+4, scale 4j + m for the
/// 128-bit lane m of the products (quants 16m..16m+16 of the chunk).
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn lanes<const C: usize>(b: &BlockQ6K, sc16: __m256i, x: [&BlockQ8K; C]) -> [__m256i; C] {
    // Scales 8h..8h+8 (i16) in every 128-bit lane; the shuffles pick scale 4t + m for lane m.
    let halves = [_mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16)), _mm512_broadcast_i32x4(_mm256_extracti128_si256::<1>(sc16))];
    let ctrl = [ld512(&SCALE_PICK[0], 0), ld512(&SCALE_PICK[1], 0)];
    // qh's high bits moved to bits 4-5: slices (4h, 4h+1) shift by (4, 2) left, slices
    // (4h+2, 4h+3) by (0, 2) right (16-bit lanes 0..16 are the low half).
    let counts = |lo: i16, hi: i16| _mm512_inserti64x4::<1>(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi));
    let (left, right) = (counts(4, 2), counts(0, 2));
    let mut acc = [_mm512_setzero_si512(); C];
    for h in 0..QK_K / 128 {
        let ql = ld512(&b.ql, 64 * h);
        let qh = _mm512_broadcast_i64x4(ld_u8(&b.qh, 32 * h));
        let q = [
            quant6(ql, _mm512_sllv_epi16(qh, left)),
            quant6(_mm512_srli_epi16::<4>(ql), _mm512_srlv_epi16(qh, right)),
        ];
        for (t, q) in q.into_iter().enumerate() {
            let scales = _mm512_shuffle_epi8(halves[h], ctrl[t]);
            for c in 0..C {
                let p = _mm512_maddubs_epi16(q, ld512(&x[c].qs, 64 * (2 * h + t)));
                acc[c] = _mm512_dpwssd_epi32(acc[c], p, scales);
            }
        }
    }
    acc.map(|a| _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a)))
}

/// R weight rows x C activation rows; each output bit-identical to `kquants::q6_k::dot`.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub fn tile<const R: usize, const C: usize>(w: [&[BlockQ6K]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
    let nb = x[0].len();
    assert!(w.iter().all(|r| r.len() == nb) && x.iter().all(|c| c.len() == nb));
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    for blk in 0..nb {
        let xb: [&BlockQ8K; C] = std::array::from_fn(|c| &x[c][blk]);
        for r in 0..R {
            let b = &w[r][blk];
            let sc16 = q6_scales16(b);
            let sums = lanes(b, sc16, xb);
            for c in 0..C {
                // As the AVX2 `finish`: d = d8 * d, the offset 32 * (bsums x scales).
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(bsums16(xb[c]), sc16));
                let d = xb[c].d * h2f(b.d);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_sub_epi32(sums[c], offset)), acc[r][c]);
            }
        }
    }
    acc.map(|row| row.map(|a| hsum8(a)))
}
