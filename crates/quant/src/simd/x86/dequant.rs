//! Row dequantization for every weight type, bit-identical to `reference`: each output is the
//! same one or two correctly rounded f32 operations as there (`d * q`, `q * d + m`,
//! `dl * q - ml` with `dl = d * sc` and `ml = dmin * m` formed in f32 first, `(d * sc) * q`),
//! never fused, so only the unpacking differs: 16 or 32 quants at a time, widened to i32 and
//! converted. Used for token embeddings and for weights the engine wants as f32.

use super::util::*;
use crate::blocks::*;
use half::{bf16, f16};
use std::arch::x86_64::*;

/// How the scaled quant is combined with the second term.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `a * q`
    Mul,
    /// `q * a + b`
    MulAdd,
    /// `a * q - b`
    MulSub,
}

/// Writes 16 outputs from the 16 signed bytes of `q`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn emit16(dst: &mut [f32], q: __m128i, a: f32, b: f32, op: Op) {
    assert!(dst.len() >= 16);
    let (va, vb) = (_mm256_set1_ps(a), _mm256_set1_ps(b));
    let halves = [q, _mm_srli_si128::<8>(q)];
    for (h, &qh) in halves.iter().enumerate() {
        let f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qh));
        let v = match op {
            Op::Mul => _mm256_mul_ps(va, f),
            Op::MulAdd => _mm256_add_ps(_mm256_mul_ps(f, va), vb),
            Op::MulSub => _mm256_sub_ps(_mm256_mul_ps(va, f), vb),
        };
        st_f32(dst, 8 * h, v);
    }
}

/// Writes 32 outputs from the 32 signed bytes of `q` (one scale pair for all).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn emit32(dst: &mut [f32], q: __m256i, a: f32, b: f32, op: Op) {
    emit16(&mut dst[..16], _mm256_castsi256_si128(q), a, b, op);
    emit16(&mut dst[16..32], _mm256_extracti128_si256::<1>(q), a, b, op);
}

/// Runs `emit(block, d, m, out)` for every block, with the f16 `d` (and `m`, via `m_bits`)
/// converted eight blocks at a time (see `util::h2f8`: one conversion per block would chain
/// each block to the previous one through a false register dependency).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn type0_blocks<B>(
    x: &[B],
    y: &mut [f32],
    d_bits: impl Fn(&B) -> u16,
    m_bits: impl Fn(&B) -> u16,
    mut emit: impl FnMut(&B, f32, f32, &mut [f32]),
) {
    assert_eq!(y.len(), x.len() * 32);
    for (xs, ys) in x.chunks(8).zip(y.chunks_mut(256)) {
        let d = h2f8(std::array::from_fn(|k| xs.get(k).map_or(0, &d_bits)));
        let m = h2f8(std::array::from_fn(|k| xs.get(k).map_or(0, &m_bits)));
        for (k, (b, o)) in xs.iter().zip(ys.chunks_exact_mut(32)).enumerate() {
            emit(b, d[k], m[k], o);
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    type0_blocks(x, y, |b| b.d.to_bits(), |_| 0, |b, d, _, o| {
        emit32(o, _mm256_sub_epi8(nibbles(&b.qs), _mm256_set1_epi8(8)), d, 0.0, Op::Mul)
    });
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    type0_blocks(x, y, |b| b.d.to_bits(), |b| b.m.to_bits(), |b, d, m, o| emit32(o, nibbles(&b.qs), d, m, Op::MulAdd));
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    type0_blocks(x, y, |b| b.d.to_bits(), |_| 0, |b, d, _, o| {
        let hi = _mm256_andnot_si256(bits_to_bytes(b.qh), _mm256_set1_epi8(0xF0u8 as i8));
        emit32(o, _mm256_or_si256(nibbles(&b.qs), hi), d, 0.0, Op::Mul)
    });
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    type0_blocks(x, y, |b| b.d.to_bits(), |b| b.m.to_bits(), |b, d, m, o| {
        emit32(o, five_bits(&b.qs, b.qh), d, m, Op::MulAdd)
    });
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    // Reference: `q * d`; multiplication commutes exactly.
    type0_blocks(x, y, |b| b.d.to_bits(), |_| 0, |b, d, _, o| emit32(o, ld_i8(&b.qs, 0), d, 0.0, Op::Mul));
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    let m3 = _mm256_set1_epi8(3);
    for (b, o) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (h2f(b.d), h2f(b.dmin));
        for j in 0..2 {
            let bits = ld_u8(&b.qs, 32 * j);
            for s in 0..4 {
                // Elements 128j + 32s + k are bits 2s..2s+2 of byte k; groups of 16 each.
                let q = _mm256_and_si256(_mm256_srl_epi16(bits, _mm_cvtsi32_si128(2 * s as i32)), m3);
                for h in 0..2 {
                    let g = 8 * j + 2 * s + h;
                    let sc = b.scales[g];
                    let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                    let qh = if h == 0 { _mm256_castsi256_si128(q) } else { _mm256_extracti128_si256::<1>(q) };
                    emit16(&mut o[16 * g..16 * g + 16], qh, dl, ml, Op::MulSub);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    let m3 = _mm256_set1_epi8(3);
    for (b, o) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d_all = h2f(b.d);
        let mut sc = [0i8; 16];
        // SAFETY: sc is 16 writable bytes; unaligned store.
        unsafe { _mm_storeu_si128(sc.as_mut_ptr() as *mut __m128i, q3_scales(&b.scales)) };
        let hmask = ld_u8(&b.hmask, 0);
        for c in 0..2 {
            let bits = ld_u8(&b.qs, 32 * c);
            for s in 0..4 {
                let low = _mm256_and_si256(_mm256_srl_epi16(bits, _mm_cvtsi32_si128(2 * s as i32)), m3);
                // Subtract 4 where the high bit (bit 4c+s of hmask[k]) is clear.
                let bit = _mm256_set1_epi8((1u8 << (4 * c + s)) as i8);
                let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, bit), _mm256_setzero_si256());
                let q = _mm256_sub_epi8(low, _mm256_and_si256(clear, _mm256_set1_epi8(4)));
                for h in 0..2 {
                    let g = 8 * c + 2 * s + h;
                    let dl = d_all * sc[g] as f32;
                    let qh = if h == 0 { _mm256_castsi256_si128(q) } else { _mm256_extracti128_si256::<1>(q) };
                    emit16(&mut o[16 * g..16 * g + 16], qh, dl, 0.0, Op::Mul);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    let m4 = _mm256_set1_epi8(0x0F);
    for (b, o) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (h2f(b.d), h2f(b.dmin));
        let (scs, ms) = k4_scales_mins(&b.scales);
        for j in 0..4 {
            let bits = ld_u8(&b.qs, 32 * j);
            let qs = [_mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4)];
            for (h, &q) in qs.iter().enumerate() {
                let g = 2 * j + h;
                let (sc, m) = (scs[g], ms[g]);
                emit32(&mut o[32 * g..32 * g + 32], q, d * sc as f32, min * m as f32, Op::MulSub);
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    let m4 = _mm256_set1_epi8(0x0F);
    let one = _mm256_set1_epi8(1);
    for (b, o) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (h2f(b.d), h2f(b.dmin));
        let (scs, ms) = k4_scales_mins(&b.scales);
        let hbits = ld_u8(&b.qh, 0);
        for j in 0..4 {
            let bits = ld_u8(&b.qs, 32 * j);
            let lows = [_mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4)];
            for (h, &low) in lows.iter().enumerate() {
                let g = 2 * j + h;
                // Fifth bit: bit g of qh[k], moved to bit 4 (16-bit shifts are safe after masking).
                let hb = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(g as i32)), one);
                let q = _mm256_or_si256(low, _mm256_slli_epi16::<4>(hb));
                let (sc, m) = (scs[g], ms[g]);
                emit32(&mut o[32 * g..32 * g + 32], q, d * sc as f32, min * m as f32, Op::MulSub);
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_q6_k(x: &[BlockQ6K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K);
    let m4 = _mm256_set1_epi8(0x0F);
    let m3 = _mm256_set1_epi8(3);
    for (b, o) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = h2f(b.d);
        for h in 0..2 {
            let l0 = ld_u8(&b.ql, 64 * h);
            let l1 = ld_u8(&b.ql, 64 * h + 32);
            let hb = ld_u8(&b.qh, 32 * h);
            let lows = [
                _mm256_and_si256(l0, m4),
                _mm256_and_si256(l1, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(l0), m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(l1), m4),
            ];
            for (s, &low) in lows.iter().enumerate() {
                let high = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * s as i32)), m3);
                let q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16::<4>(high)), _mm256_set1_epi8(32));
                for half in 0..2 {
                    let g = 8 * h + 2 * s + half;
                    let dl = d * b.scales[g] as f32;
                    let qh = if half == 0 { _mm256_castsi256_si128(q) } else { _mm256_extracti128_si256::<1>(q) };
                    emit16(&mut o[16 * g..16 * g + 16], qh, dl, 0.0, Op::Mul);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_f16(x: &[f16], y: &mut [f32]) {
    assert_eq!(y.len(), x.len());
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact_mut(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        // SAFETY: xs is 8 f16 = 16 readable bytes, ys 8 writable f32; unaligned accesses.
        unsafe { _mm256_storeu_ps(ys.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(xs.as_ptr() as *const __m128i))) };
    }
    for (o, &h) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
        *o = h2f(h);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_bf16(x: &[bf16], y: &mut [f32]) {
    assert_eq!(y.len(), x.len());
    let mut xc = x.chunks_exact(8);
    let mut yc = y.chunks_exact_mut(8);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        // SAFETY: xs is 8 bf16 = 16 readable bytes, ys 8 writable f32; unaligned accesses.
        unsafe {
            let h = _mm_loadu_si128(xs.as_ptr() as *const __m128i);
            _mm256_storeu_ps(ys.as_mut_ptr(), _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h))));
        }
    }
    for (o, &h) in yc.into_remainder().iter_mut().zip(xc.remainder()) {
        *o = f32::from_bits((h.to_bits() as u32) << 16);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dequantize_row_f32(x: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), x.len());
    y.copy_from_slice(x);
}
