//! AVX2+FMA dot products, bit-identical to [`crate::emulate`] (and so to llama.cpp's x86
//! kernels, which `emulate` reproduces): the same eight i32 lanes per block, the same
//! per-block FMA, the same horizontal sum. The integer work follows ggml-cpu's
//! `arch/x86/quants.c` (maddubs/madd pair sums); the code is ours.
//!
//! Every `unsafe fn` here requires AVX2, FMA and F16C; they are reached only through the table
//! built by [`super::avx2_table`], which checks for both at run time.

use crate::blocks::*;
use crate::kernels::{as_blocks, TypeKernels};
use gguf::GgmlType;
use std::arch::x86_64::*;

/// f16 → f32 with the F16C instruction (the `half` crate's conversion is an out-of-line call
/// that re-detects the CPU each time: a third of the time of a dot product).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn h2f(h: half::f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

/// ggml's `hsum_float_8`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum8(x: __m256) -> f32 {
    let mut r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// Eight i32 sums of four u8×i8 products each, as f32 (exact: |sum| < 2^16).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lanes_us8(ax: __m256i, sy: __m256i) -> __m256 {
    let dot = _mm256_maddubs_epi16(ax, sy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot))
}

/// Eight i32 sums of four i8×i8 products each: |x| times y with x's sign.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lanes_i8(x: __m256i, y: __m256i) -> __m256 {
    lanes_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// 32 nibbles → 32 bytes: low nibbles of qs[0..16], then high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: qs is 16 readable bytes; unaligned load.
    let t = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F))
}

/// 0xFF in byte j where bit j of `qh` is set.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bits_to_bytes(qh: [u8; 4]) -> __m256i {
    let x = _mm256_set1_epi32(i32::from_le_bytes(qh));
    let spread = _mm256_shuffle_epi8(x, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    let probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe_u64 as i64));
    _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load32(p: &[i8; 32]) -> __m256i {
    // SAFETY: 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(p.as_ptr() as *const __m256i) }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (xb, yb) in x.iter().zip(y) {
        let d = _mm256_set1_ps(h2f(xb.d) * h2f(yb.d));
        let q = lanes_i8(load32(&xb.qs), load32(&yb.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum8(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q4_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        summs = h2f(xb.m).mul_add(h2f(yb.s), summs);
        let d = _mm256_set1_ps(h2f(xb.d) * h2f(yb.d));
        let q = lanes_us8(nibbles(&xb.qs), load32(&yb.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum8(acc) + summs
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q5_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (xb, yb) in x.iter().zip(y) {
        let d = _mm256_set1_ps(h2f(xb.d) * h2f(yb.d));
        // value = nibble - 16 where the fifth bit is clear: OR in 0xF0 there.
        let hi = _mm256_andnot_si256(bits_to_bytes(xb.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(nibbles(&xb.qs), hi);
        let q = lanes_i8(qx, load32(&yb.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum8(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q5_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        summs = h2f(xb.m).mul_add(h2f(yb.s), summs);
        let d = _mm256_set1_ps(h2f(xb.d) * h2f(yb.d));
        let hi = _mm256_and_si256(bits_to_bytes(xb.qh), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(nibbles(&xb.qs), hi);
        let q = lanes_us8(qx, load32(&yb.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum8(acc) + summs
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_q6_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (xb, yb) in x.iter().zip(y) {
        let d = yb.d * h2f(xb.d);
        // SAFETY: scales is 16 bytes and bsums 16 i16 (32 bytes); unaligned loads.
        let scales = unsafe { _mm_loadu_si128(xb.scales.as_ptr() as *const __m128i) };
        let bsums = unsafe { _mm256_loadu_si256(yb.bsums.as_ptr() as *const __m256i) };
        // The -32 offset of every value, folded in through the activation's group sums.
        let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, _mm256_cvtepi8_epi16(scales)), 5);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..2 {
            // SAFETY: ql has 128 bytes, qh 64: offsets 64j..64j+64 and 32j..32j+32 are in range.
            let (l1, l2, h) = unsafe {
                (
                    _mm256_loadu_si256(xb.ql.as_ptr().add(64 * j) as *const __m256i),
                    _mm256_loadu_si256(xb.ql.as_ptr().add(64 * j + 32) as *const __m256i),
                    _mm256_loadu_si256(xb.qh.as_ptr().add(32 * j) as *const __m256i),
                )
            };
            let hbits = |shift: i32| -> __m256i {
                // ((h >> shift) & 3) << 4, bytewise (srli/slli on 16-bit lanes are safe after masking).
                let m = _mm256_and_si256(h, _mm256_set1_epi8((3 << shift) as i8));
                match shift {
                    0 => _mm256_slli_epi16(m, 4),
                    2 => _mm256_slli_epi16(m, 2),
                    4 => m,
                    _ => _mm256_srli_epi16(m, 2),
                }
            };
            let q = [
                _mm256_or_si256(_mm256_and_si256(l1, m4), hbits(0)),
                _mm256_or_si256(_mm256_and_si256(l2, m4), hbits(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), hbits(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4), hbits(6)),
            ];
            for (k, qk) in q.iter().enumerate() {
                let slice = 4 * j + k;
                // SAFETY: 32 bytes of the 256-byte qs at offset 32*slice.
                let q8 = unsafe { _mm256_loadu_si256(yb.qs.as_ptr().add(32 * slice) as *const __m256i) };
                let p16 = _mm256_maddubs_epi16(*qk, q8);
                let (s0, s1) = (xb.scales[2 * slice] as i16, xb.scales[2 * slice + 1] as i16);
                let sc = _mm256_set_epi16(s1, s1, s1, s1, s1, s1, s1, s1, s0, s0, s0, s0, s0, s0, s0, s0);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p16));
            }
        }
        sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum8(acc)
}

/// ggml_vec_dot_f32 on AVX2: four 8-lane FMA accumulators over steps of 32, reduced
/// (a0+a2)+(a1+a3), then lo+hi and two horizontal adds; the tail as the compiled C does it.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f32_avx2(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let np = n & !31;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < np {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8j + 8 <= np <= n for both slices.
            let (vx, vy) = unsafe { (_mm256_loadu_ps(x.as_ptr().add(i + 8 * j)), _mm256_loadu_ps(y.as_ptr().add(i + 8 * j))) };
            *a = _mm256_fmadd_ps(vx, vy, *a);
        }
        i += 32;
    }
    let x0 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
    let t0 = _mm_add_ps(_mm256_castps256_ps128(x0), _mm256_extractf128_ps(x0, 1));
    let t1 = _mm_hadd_ps(t0, t0);
    let mut sum = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
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

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fma_row_avx2(acc: &mut [f32], x: &[f32], w: f32) {
    let n = acc.len().min(x.len());
    let wv = _mm256_set1_ps(w);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let a = _mm256_loadu_ps(acc.as_ptr().add(i));
            let v = _mm256_loadu_ps(x.as_ptr().add(i));
            _mm256_storeu_ps(acc.as_mut_ptr().add(i), _mm256_fmadd_ps(v, wv, a));
        }
        i += 8;
    }
    for k in i..n {
        acc[k] = x[k].mul_add(w, acc[k]);
    }
}

pub fn dot_f32(x: &[f32], y: &[f32]) -> f32 {
    // SAFETY: installed by avx2_table only after detecting AVX2+FMA+F16C.
    unsafe { dot_f32_avx2(x, y) }
}

pub fn fma_row(acc: &mut [f32], x: &[f32], w: f32) {
    // SAFETY: installed by avx2_table only after detecting AVX2+FMA+F16C.
    unsafe { fma_row_avx2(acc, x, w) }
}

/// Defines the byte-level entry points of one type around its AVX2 dot product.
macro_rules! avx2_type {
    ($modname:ident, $ty:ident, $vt:ident, $wblock:ty, $xblock:ty, $dot:ident, $deq:path) => {
        pub mod $modname {
            use super::*;
            pub fn vec_dot(_n: usize, w: &[u8], x: &[u8]) -> f32 {
                let (w, x) = (as_blocks::<$wblock>(w), as_blocks::<$xblock>(x));
                assert_eq!(w.len(), x.len(), "row lengths differ");
                // SAFETY: this entry is only installed by avx2_table after detecting AVX2+FMA+F16C.
                unsafe { $dot(&w, &x) }
            }
            pub fn gemm(n: usize, w: &[u8], nr: usize, x: &[u8], nc: usize, out: &mut [f32], stride: usize) {
                // Every output is exactly this type's vec_dot of its pair, so batching never
                // changes a value.
                crate::kernels::gemm_from_dot(vec_dot, GgmlType::$ty, GgmlType::$vt)(n, w, nr, x, nc, out, stride)
            }
            pub fn entry() -> TypeKernels {
                TypeKernels {
                    ty: GgmlType::$ty,
                    vec_dot_type: GgmlType::$vt,
                    vec_dot,
                    gemm,
                    dequantize_row: |src, dst| $deq(&as_blocks::<$wblock>(src), dst),
                }
            }
        }
    };
}

use crate::reference as r;
avx2_type!(q8_0, Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, dot_q8_0, r::dequantize_row_q8_0);
avx2_type!(q4_1, Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, dot_q4_1, r::dequantize_row_q4_1);
avx2_type!(q5_0, Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, dot_q5_0, r::dequantize_row_q5_0);
avx2_type!(q5_1, Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, dot_q5_1, r::dequantize_row_q5_1);
avx2_type!(q6_k, Q6_K, Q8_K, BlockQ6K, BlockQ8K, dot_q6_k, r::dequantize_row_q6_k);

/// The entries this module provides.
pub fn entries() -> [TypeKernels; 5] {
    [q8_0::entry(), q4_1::entry(), q5_0::entry(), q5_1::entry(), q6_k::entry()]
}
