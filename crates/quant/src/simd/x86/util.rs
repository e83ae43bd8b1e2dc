//! Small AVX2 building blocks shared by the x86 kernels. Every function here requires
//! AVX2+FMA+F16C (`#[target_feature]`), so it can only be called from a kernel compiled with
//! the same features, which in turn is only reached through the table built after detection.
//!
//! The integer helpers compute *exact* sums (no saturation is possible for the value ranges
//! the block formats produce), so how we group the integer work never changes a result; what
//! must match ggml is which elements land in which i32 lane before the float conversion.

use half::f16;
use std::arch::x86_64::*;

/// f16 -> f32 with F16C (exact, like `half`, but inline: `half`'s conversion re-detects the
/// CPU on every call).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn h2f(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

/// f32 -> f16 with F16C, round to nearest even (what ggml's `GGML_CPU_FP32_TO_FP16` does on
/// x86, and what `half::f16::from_f32` computes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn f2h(x: f32) -> f16 {
    f16::from_bits(_mm_extract_epi16::<0>(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x))) as u16)
}

/// ggml's `hsum_float_8`: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn hsum8(x: __m256) -> f32 {
    let mut r = _mm_add_ps(_mm256_extractf128_ps::<1>(x), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    _mm_cvtss_f32(r)
}

/// Sum of the eight i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Up to eight vectors of i32 lanes reduced at once: lane k of the result is the sum of the
/// lanes of `v[k]` (exact). Cheaper than eight `hsum_i32`; used where ggml keeps one float
/// accumulator per output (the repacked Q4_0/Q4_K orders).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn hsum_i32_x8(v: [__m256i; 8]) -> __m256i {
    // hadd works within 128-bit halves: after two rounds, the low half holds the low-half
    // sums of v0..v3 (resp. v4..v7) and the high half their high-half sums.
    let a = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    let b = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(a, b), _mm256_permute2x128_si256::<0x31>(a, b))
}

/// 32 bytes at `s[off..off + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn ld_u8(s: &[u8], off: usize) -> __m256i {
    assert!(off + 32 <= s.len());
    // SAFETY: the 32 bytes are in bounds (checked above); the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().add(off) as *const __m256i) }
}

/// 32 signed bytes at `s[off..off + 32]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn ld_i8(s: &[i8], off: usize) -> __m256i {
    assert!(off + 32 <= s.len());
    // SAFETY: the 32 bytes are in bounds (checked above); the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().add(off) as *const __m256i) }
}

/// 16 bytes at `s[off..off + 16]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn ld128_u8(s: &[u8], off: usize) -> __m128i {
    assert!(off + 16 <= s.len());
    // SAFETY: the 16 bytes are in bounds (checked above); the load is unaligned.
    unsafe { _mm_loadu_si128(s.as_ptr().add(off) as *const __m128i) }
}

/// Eight f32 at `s[off..off + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn ld_f32(s: &[f32], off: usize) -> __m256 {
    assert!(off + 8 <= s.len());
    // SAFETY: the 8 floats are in bounds (checked above); the load is unaligned.
    unsafe { _mm256_loadu_ps(s.as_ptr().add(off)) }
}

/// Eight f32 stored to `s[off..off + 8]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn st_f32(s: &mut [f32], off: usize, v: __m256) {
    assert!(off + 8 <= s.len());
    // SAFETY: the 8 floats are in bounds (checked above); the store is unaligned.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr().add(off), v) }
}

/// 32 nibbles -> 32 bytes in 0..16: the low nibbles of `qs[0..16]` (elements 0..16 of a
/// type-0 block), then the high nibbles (elements 16..32). ggml's `bytes_from_nibbles_32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn nibbles(qs: &[u8; 16]) -> __m256i {
    let t = ld128_u8(qs, 0);
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(t), t), _mm256_set1_epi8(0x0F))
}

/// 0xFF in byte j where bit j of the little-endian `qh` is set (ggml's `bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn bits_to_bytes(qh: [u8; 4]) -> __m256i {
    let x = _mm256_set1_epi32(i32::from_le_bytes(qh));
    // Byte j takes byte j/8 of qh; OR-ing every bit but bit j%8 makes it all-ones iff set.
    let spread = _mm256_shuffle_epi8(x, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    let probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe_u64 as i64));
    _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1))
}

/// Eight i32 lanes, lane l = sum of the four products u8 x i8 of bytes 4l..4l+4 (exact as
/// long as each adjacent pair of products fits i16, which holds for |a| <= 127 or a <= 63).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_us8(a: __m256i, b: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
}

/// As [`dot_us8`] for two signed operands: |x| times y carrying x's sign (y never -128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_i8(x: __m256i, y: __m256i) -> __m256i {
    dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}
