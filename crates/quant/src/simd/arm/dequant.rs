//! Row dequantization for every weight type, bit-identical to [`crate::reference`]: the same
//! codes (from the dot products' decoders) and the same float operations per element —
//! `code * d` (+ `m`), or for the k-quants `(d * sc) * code - (dmin * m)` with the two
//! products rounded separately, never fused, exactly as the reference writes them.

use super::kquants::{decode_q2_k, decode_q3_k, decode_q4_k, decode_q5_k, decode_q6_k, Decoded};
use super::type0;
use super::util::*;
use crate::blocks::*;
use half::{bf16, f16};
use std::arch::aarch64::*;

/// Writes 16 codes as `code * dl - ml` (no FMA), or `code * dl` when `ml` is None.
#[inline]
#[target_feature(enable = "neon")]
fn put16(dst: &mut [f32], codes: int8x16_t, dl: f32, ml: Option<f32>) {
    for (i, f) in i8_to_f32(codes).into_iter().enumerate() {
        let v = vmulq_n_f32(f, dl);
        let v = match ml {
            Some(m) => vsubq_f32(v, vdupq_n_f32(m)),
            None => v,
        };
        st_f32(dst, 4 * i, v);
    }
}

/// Type-0 blocks: `code * d`, plus `m` (not fused) for the types with an offset.
macro_rules! deq_type0 {
    ($fname:ident, $W:ty, $m:ident, min: $has_min:literal) => {
        #[target_feature(enable = "neon")]
        pub(super) fn $fname(x: &[$W], y: &mut [f32]) {
            assert_eq!(y.len(), x.len() * 32);
            for (b, out) in x.iter().zip(y.chunks_exact_mut(32)) {
                let (d, m) = head2(b);
                let (lo, hi) = type0::$m::decode(b);
                for (h, codes) in [lo, hi].into_iter().enumerate() {
                    for (i, f) in i8_to_f32(codes).into_iter().enumerate() {
                        let v = vmulq_n_f32(f, d);
                        let v = if $has_min { vaddq_f32(v, vdupq_n_f32(m)) } else { v };
                        st_f32(out, 16 * h + 4 * i, v);
                    }
                }
            }
        }
    };
}
deq_type0!(dequantize_row_q4_0, BlockQ4_0, q4_0, min: false);
deq_type0!(dequantize_row_q4_1, BlockQ4_1, q4_1, min: true);
deq_type0!(dequantize_row_q5_0, BlockQ5_0, q5_0, min: false);
deq_type0!(dequantize_row_q5_1, BlockQ5_1, q5_1, min: true);
deq_type0!(dequantize_row_q8_0, BlockQ8_0, q8_0, min: false);

/// A decoded k-quant super-block: group g (16 elements, vector g) as
/// `(d * sc[g]) * code - (dmin * min[g])`; `signed_off` is subtracted from the codes first
/// (Q6_K's 32), and types without mins skip the subtraction as the reference does.
#[inline]
#[target_feature(enable = "neon")]
fn put_kblock(out: &mut [f32], p: &Decoded, has_min: bool, signed_off: i8) {
    for g in 0..16 {
        let codes = vsubq_s8(p.codes[g], vdupq_n_s8(signed_off));
        let dl = p.d * p.sc[g] as f32;
        let ml = if has_min { Some(p.dmin * p.mins[g] as f32) } else { None };
        put16(&mut out[16 * g..16 * g + 16], codes, dl, ml);
    }
}

macro_rules! deq_k {
    ($fname:ident, $W:ty, $decode:ident, min: $has_min:literal, off: $off:literal) => {
        #[target_feature(enable = "neon")]
        pub(super) fn $fname(x: &[$W], y: &mut [f32]) {
            assert_eq!(y.len(), x.len() * QK_K);
            for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
                put_kblock(out, &$decode(b), $has_min, $off);
            }
        }
    };
}
deq_k!(dequantize_row_q2_k, BlockQ2K, decode_q2_k, min: true, off: 0);
deq_k!(dequantize_row_q3_k, BlockQ3K, decode_q3_k, min: false, off: 0);
deq_k!(dequantize_row_q4_k, BlockQ4K, decode_q4_k, min: true, off: 0);
deq_k!(dequantize_row_q5_k, BlockQ5K, decode_q5_k, min: true, off: 0);
deq_k!(dequantize_row_q6_k, BlockQ6K, decode_q6_k, min: false, off: 32);

#[target_feature(enable = "neon")]
pub(super) fn dequantize_row_f32(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(&x[..y.len()]);
}

#[target_feature(enable = "neon")]
pub(super) fn dequantize_row_f16(x: &[f16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    let n4 = y.len() & !3;
    for i in (0..n4).step_by(4) {
        st_f32(y, i, h2f4(ld_u16x4(x, i)));
    }
    for i in n4..y.len() {
        y[i] = h2f(x[i]);
    }
}

#[target_feature(enable = "neon")]
pub(super) fn dequantize_row_bf16(x: &[bf16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    let n4 = y.len() & !3;
    for i in (0..n4).step_by(4) {
        st_f32(y, i, vreinterpretq_f32_u32(vshll_n_u16::<16>(ld_u16x4(x, i))));
    }
    for i in n4..y.len() {
        y[i] = f32::from_bits((x[i].to_bits() as u32) << 16);
    }
}
