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

/// Eight f16 -> f32 in one F16C conversion. Converting block scales eight at a time, rather
/// than one `h2f` per block, matters: for a lone scalar LLVM emits `vpinsrw` into whatever
/// register is free, often the accumulator, which chains every block's scale conversion to
/// the previous block's FMA (measured: 3x slower type-0 dot products on Zen 2).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn h2f8(bits: [u16; 8]) -> [f32; 8] {
    // SAFETY: bits is 16 readable bytes; unaligned load.
    let v = unsafe { _mm_loadu_si128(bits.as_ptr() as *const __m128i) };
    let mut out = [0f32; 8];
    st_f32(&mut out, 0, _mm256_cvtph_ps(v));
    out
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

/// The 32 five-bit codes of a Q5_0/Q5_1 block as bytes in 0..32: the nibbles of `qs` (as
/// [`nibbles`] lays them out) plus 16 where the element's bit of `qh` is set.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn five_bits(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    _mm256_or_si256(nibbles(qs), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)))
}

/// The first two f16 of a block, as f32 lanes 0 and 1: `d`, then `m` (weights) or `s` (Q8_1);
/// for the other types lane 1 is whatever bytes follow `d`, unused. One 4-byte load into a
/// zeroed register: converting a lone f16 scale instead (`vpinsrw` into a live register)
/// chains each block to the previous block's FMA.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn head_f16x2<B: bytemuck::Pod>(b: &B) -> __m128 {
    let h = &bytemuck::bytes_of(b)[..4];
    _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes([h[0], h[1], h[2], h[3]])))
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

/// The eight 6-bit scales and eight 6-bit mins of a Q4_K/Q5_K block (what
/// [`crate::reference::kquant_common::get_scale_min_k4`] gives for j = 0..8), unpacked four
/// at a time with 32-bit masks: bytes 0..4 hold scales 0..4 (low 6 bits) and their spare top
/// bits carry the high bits of scales 4..8; bytes 4..8 the same for the mins; bytes 8..12 the
/// low nibbles of scales 4..8 (low) and mins 4..8 (high).
#[inline]
pub fn k4_scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let w = |i: usize| u32::from_le_bytes([q[i], q[i + 1], q[i + 2], q[i + 3]]);
    let (a, b, c) = (w(0), w(4), w(8));
    let sc_hi = (c & 0x0f0f_0f0f) | (((a >> 6) & 0x0303_0303) << 4);
    let m_hi = ((c >> 4) & 0x0f0f_0f0f) | (((b >> 6) & 0x0303_0303) << 4);
    let join = |lo: u32, hi: u32| ((hi as u64) << 32 | lo as u64).to_le_bytes();
    (join(a & 0x3f3f_3f3f, sc_hi), join(b & 0x3f3f_3f3f, m_hi))
}

/// The sixteen signed 6-bit group scales of a Q3_K block (as
/// [`crate::reference::q3_k_scales`]): low nibbles from bytes 0..8 (groups 0..8 low, 8..16
/// high nibble), the top two bits from bytes 8..12, two bits per group quarter.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn q3_scales(s: &[u8; 12]) -> __m128i {
    let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    let (a, b, c) = (w(0), w(4), w(8));
    let (m2, m4) = (0x0303_0303u32, 0x0f0f_0f0fu32);
    let v = [
        (a & m4) | ((c & m2) << 4),
        (b & m4) | (((c >> 2) & m2) << 4),
        ((a >> 4) & m4) | (((c >> 4) & m2) << 4),
        ((b >> 4) & m4) | (((c >> 6) & m2) << 4),
    ];
    _mm_sub_epi8(_mm_setr_epi32(v[0] as i32, v[1] as i32, v[2] as i32, v[3] as i32), _mm_set1_epi8(32))
}

/// Sixteen signed byte scales (one per 16-element group) widened to i16 and duplicated per
/// half: `[0]` holds groups 0..8 in both 128-bit halves, `[1]` groups 8..16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn group_scales(s: __m128i) -> [__m256i; 2] {
    let all = _mm256_cvtepi8_epi16(s);
    [_mm256_permute2x128_si256::<0x00>(all, all), _mm256_permute2x128_si256::<0x11>(all, all)]
}

/// pshufb masks: for slice p of a half, i16 scale 2p under the low 16 bytes of the slice and
/// scale 2p+1 under the high 16 bytes (where `maddubs` leaves their pair sums).
static PAIR_MASK: [[u8; 32]; 4] = {
    let mut m = [[0u8; 32]; 4];
    let mut p = 0;
    while p < 4 {
        let mut i = 0;
        while i < 16 {
            m[p][i] = (4 * p + i % 2) as u8;
            m[p][16 + i] = (4 * p + 2 + i % 2) as u8;
            i += 1;
        }
        p += 1;
    }
    m
};

/// The scales of slice k (elements 32k..32k+32) from [`group_scales`]: i16 lanes 0..8 get
/// group 2k's scale, lanes 8..16 group 2k+1's.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn slice_scales(g: &[__m256i; 2], k: usize) -> __m256i {
    _mm256_shuffle_epi8(g[k / 4], ld_u8(&PAIR_MASK[k % 4], 0))
}

/// pshufb masks broadcasting i16 scale k (of eight) to all sixteen lanes.
static BCAST_MASK: [[u8; 32]; 8] = {
    let mut m = [[0u8; 32]; 8];
    let mut k = 0;
    while k < 8 {
        let mut i = 0;
        while i < 32 {
            m[k][i] = (2 * k + i % 2) as u8;
            i += 1;
        }
        k += 1;
    }
    m
};

/// A Q4_K/Q5_K block's eight slice scales as i16, duplicated per half (for [`k4_slice_scale`]),
/// and its eight mins as i16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn k4_prep(q: &[u8; 12]) -> (__m256i, __m128i) {
    let (sc, m) = k4_scales_mins(q);
    let sc16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(sc)));
    let m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(m)));
    (_mm256_set_m128i(sc16, sc16), m16)
}

/// Slice k's single scale in all sixteen i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn k4_slice_scale(dup: __m256i, k: usize) -> __m256i {
    _mm256_shuffle_epi8(dup, ld_u8(&BCAST_MASK[k], 0))
}

/// The activation's sums over each 32-element slice, as i16 (from its 16-element `bsums`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn bsums32(bsums: &[i16; 16]) -> __m128i {
    // SAFETY: bsums is 16 i16 = 32 readable bytes; unaligned loads.
    let (lo, hi) = unsafe { (_mm_loadu_si128(bsums.as_ptr() as *const __m128i), _mm_loadu_si128(bsums.as_ptr().add(8) as *const __m128i)) };
    _mm_hadd_epi16(lo, hi)
}

/// Four i32 lanes summed (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub fn hsum_i32_4(v: __m128i) -> i32 {
    let s = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s)))
}

/// Weight bytes per row block of the K-quant batched driver (`lanes`; its rows too long to be
/// decoded once per call, and its groups of fewer than 8 tokens): a block's rows stay
/// in L2 (1-2 MiB per core on the machines measured) while every token group of a call reads
/// them, where a matrix larger than L2 would be streamed from memory once per 8 tokens.
const ROW_BLOCK_BYTES: usize = 256 << 10;

/// Rows per block for rows of `row_bytes`: about [`ROW_BLOCK_BYTES`] of weights, a nonzero
/// multiple of `multiple` (the driver's tile height).
pub fn row_block(row_bytes: usize, multiple: usize) -> usize {
    (ROW_BLOCK_BYTES / row_bytes).max(multiple) / multiple * multiple
}

/// Asks for every cache line of `b` (a hint: never faults, changes no result).
///
/// Decode reads each weight byte once from memory, and its tiles read R rows of a few hundred
/// bytes side by side, a pattern the hardware prefetcher follows badly: a Q8_0 [262144 x 640]
/// matrix-vector product ran at 3.7 GB/s on one core where a plain read gets 14.8. Requesting
/// all of a tile's lines together before computing it brought it to 14-17 GB/s (prefetching
/// 1-4 KB further ahead measured the same or worse; `examples/gemv.rs`, 2026-12-02). On a
/// Zen 5 machine with 512-bit tiles, the tile computes fast enough that requesting the *next*
/// tile's lines is what pays: Qwen2.5's Q8_0 [151936 x 896] output, 2 threads, 24 -> 38 GB/s
/// (1 thread 12 -> 25, all of its 25 GB/s read bandwidth); two tiles ahead was worse (36).
#[inline]
pub fn prefetch_bytes(b: &[u8]) {
    for off in (0..b.len()).step_by(64) {
        // SAFETY: a prefetch has no architectural effect and cannot fault; the address is in
        // bounds anyway. SSE is part of x86-64.
        unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(b[off..].as_ptr() as *const i8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::kquant_common::get_scale_min_k4;
    use crate::reference::q3_k_scales;

    #[test]
    fn scale_unpacking_matches_reference() {
        let mut s = 0x0123_4567_89ab_cdefu64;
        for _ in 0..2000 {
            let mut q = [0u8; 12];
            for b in q.iter_mut() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *b = s as u8;
            }
            let (sc, m) = k4_scales_mins(&q);
            for j in 0..8 {
                assert_eq!((sc[j], m[j]), get_scale_min_k4(j, &q));
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("f16c") {
                let mut got = [0i8; 16];
                // SAFETY: the features were just detected; got is 16 writable bytes.
                unsafe { _mm_storeu_si128(got.as_mut_ptr() as *mut __m128i, q3_scales(&q)) };
                assert_eq!(got, q3_k_scales(&q));
            }
        }
    }
}
