//! Q2_K, Q3_K, Q4_K, Q5_K and Q6_K x Q8_K in the scalar level's float order
//! ([`crate::emulate::kdot`], [`crate::emulate::vec_dot_q6_k_q8_k`]: ggml's AVX2
//! `ggml_vec_dot_q*_K_q8_K`), so NEON answers equal the scalar table's bit for bit. Per
//! super-block, eight exact i32 lanes, lane l summing `scale * code * q8` over bytes 4l..4l+4
//! of each 32-element slice (two NEON vectors: lanes 0..4 from bytes 0..16 of each slice,
//! 4..8 from 16..32, each scaled by its 16-element group's scale with an integer
//! multiply-add), converted to f32 and accumulated with one FMA by `d = d8 * d`. The mins /
//! offset terms enter as the scalar level places them:
//! - Q2_K: first, `acc = fma(-d8 * dmin, f32(mins of groups 2l, 2l+1 x their bsums), acc)`;
//! - Q3_K: none (the -4 of a clear high bit is in the codes);
//! - Q4_K: a 4-lane `acc_m = fma(-d8 * dmin, f32(lane), acc_m)`, lane i the mins of
//!   sub-blocks 2i, 2i+1 times their 32-element sums, reduced `(m0 + m2) + (m1 + m3)` and
//!   added after the `hsum_float_8`;
//! - Q5_K: a scalar `summs = fma(-d8 * dmin, f32(sum of all min terms), summs)`, added last;
//! - Q6_K: unsigned codes, the -32 offset subtracted from the integer lanes as
//!   `32 * (bsums x scales)` of groups 2l, 2l+1.
//!
//! Decoding (ours; ggml's arm `ggml_vec_dot_q*_K_q8_K` in arch/arm/quants.c shift and mask
//! the packed bytes in the same way): a super-block becomes 16 vectors of codes, vector 2j
//! and 2j+1 being bytes 0..16 and 16..32 of slice j, decoded once per weight row and reused
//! for the tile's activation columns. [`super::dequant`] uses the same decoders.

use super::util::*;
use crate::blocks::*;
use crate::reference::kquant_common::get_scale_min_k4;
use crate::reference::q3_k_scales;
use std::arch::aarch64::*;

/// A super-block's codes (see the module docs) and its scalar parts: `d`, `dmin`, the
/// scale and min of each 16-element group (for Q4_K/Q5_K each 32-element sub-block's, twice).
pub(super) struct Decoded {
    pub codes: [int8x16_t; 16],
    pub d: f32,
    pub dmin: f32,
    pub sc: [i32; 16],
    pub mins: [i32; 16],
}

/// `(v >> shift) & mask`, bytewise, for a runtime shift.
#[inline]
#[target_feature(enable = "neon")]
fn bits(v: uint8x16_t, shift: usize, mask: u8) -> uint8x16_t {
    vandq_u8(vshlq_u8(v, vdupq_n_s8(-(shift as i8))), vdupq_n_u8(mask))
}

#[inline]
#[target_feature(enable = "neon")]
fn s8(v: uint8x16_t) -> int8x16_t {
    vreinterpretq_s8_u8(v)
}

/// Q4_K / Q5_K scales and mins, per 16-element group.
fn k4_groups(scales: &[u8; 12]) -> ([i32; 16], [i32; 16]) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| get_scale_min_k4(j, scales));
    (std::array::from_fn(|g| pairs[g / 2].0 as i32), std::array::from_fn(|g| pairs[g / 2].1 as i32))
}

/// Q2_K: code = `(qs[32h + k] >> 2s) & 3` for element 128h + 32s + k.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn decode_q2_k(b: &BlockQ2K) -> Decoded {
    let q: [uint8x16_t; 4] = std::array::from_fn(|i| ld_u8(&b.qs, 16 * i));
    Decoded {
        codes: std::array::from_fn(|v| {
            let (j, half) = (v / 2, v % 2);
            s8(bits(q[2 * (j / 4) + half], 2 * (j % 4), 3))
        }),
        d: h2f(b.d),
        dmin: h2f(b.dmin),
        sc: std::array::from_fn(|g| (b.scales[g] & 0xF) as i32),
        mins: std::array::from_fn(|g| (b.scales[g] >> 4) as i32),
    }
}

/// Q3_K: the Q2_K low bits minus 4 where bit j (the slice) of `hmask[k]` is clear.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn decode_q3_k(b: &BlockQ3K) -> Decoded {
    let q: [uint8x16_t; 4] = std::array::from_fn(|i| ld_u8(&b.qs, 16 * i));
    let hm = [ld_u8(&b.hmask, 0), ld_u8(&b.hmask, 16)];
    let sc = q3_k_scales(&b.scales);
    Decoded {
        codes: std::array::from_fn(|v| {
            let (j, half) = (v / 2, v % 2);
            let low = bits(q[2 * (j / 4) + half], 2 * (j % 4), 3);
            let set = vtstq_u8(hm[half], vdupq_n_u8(1 << j));
            vsubq_s8(s8(low), s8(vbicq_u8(vdupq_n_u8(4), set)))
        }),
        d: h2f(b.d),
        dmin: 0.0,
        sc: std::array::from_fn(|g| sc[g] as i32),
        mins: [0; 16],
    }
}

/// Q4_K: slice j is the low (even j) or high (odd j) nibbles of `qs[32 (j / 2)..][..32]`.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn decode_q4_k(b: &BlockQ4K) -> Decoded {
    let (sc, mins) = k4_groups(&b.scales);
    Decoded {
        codes: std::array::from_fn(|v| {
            let (j, half) = (v / 2, v % 2);
            s8(bits(ld_u8(&b.qs, 32 * (j / 2) + 16 * half), 4 * (j % 2), 0xF))
        }),
        d: h2f(b.d),
        dmin: h2f(b.dmin),
        sc,
        mins,
    }
}

/// Q5_K: the Q4_K nibbles plus bit j (the slice) of `qh[k]` as 16.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn decode_q5_k(b: &BlockQ5K) -> Decoded {
    let (sc, mins) = k4_groups(&b.scales);
    let qh = [ld_u8(&b.qh, 0), ld_u8(&b.qh, 16)];
    Decoded {
        codes: std::array::from_fn(|v| {
            let (j, half) = (v / 2, v % 2);
            let low = bits(ld_u8(&b.qs, 32 * (j / 2) + 16 * half), 4 * (j % 2), 0xF);
            let high = vandq_u8(vtstq_u8(qh[half], vdupq_n_u8(1 << j)), vdupq_n_u8(16));
            s8(vorrq_u8(low, high))
        }),
        d: h2f(b.d),
        dmin: h2f(b.dmin),
        sc,
        mins,
    }
}

/// Q6_K, unsigned (0..64): element 128h + 32s + k has its low nibble in
/// `ql[64h + 32 (s % 2) + k]` (low for s < 2, high otherwise) and bits 4..6 in
/// `(qh[32h + k] >> 2s) & 3`.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn decode_q6_k(b: &BlockQ6K) -> Decoded {
    Decoded {
        codes: std::array::from_fn(|v| {
            let (j, half) = (v / 2, v % 2);
            let (h, s) = (j / 4, j % 4);
            let ql = ld_u8(&b.ql, 64 * h + 32 * (s % 2) + 16 * half);
            let low = if s < 2 { vandq_u8(ql, vdupq_n_u8(0xF)) } else { vshrq_n_u8::<4>(ql) };
            let high = vshlq_n_u8::<4>(bits(ld_u8(&b.qh, 32 * h + 16 * half), 2 * s, 3));
            s8(vorrq_u8(low, high))
        }),
        d: h2f(b.d),
        dmin: 0.0,
        sc: std::array::from_fn(|g| b.scales[g] as i32),
        mins: [0; 16],
    }
}

/// How a type's mins or offset enter (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mins {
    Q2,
    None,
    Q4,
    Q5,
    Q6,
}

/// The per-16-group `mins x bsums` (i32, exact), as four vectors of groups 0..4, .., 12..16.
#[inline]
#[target_feature(enable = "neon")]
pub(super) fn min_products(mins: &[i32; 16], y: &BlockQ8K) -> [int32x4_t; 4] {
    std::array::from_fn(|i| {
        // SAFETY: both are 4 readable i32 / i16.
        let (m, s) = unsafe { (vld1q_s32(mins[4 * i..].as_ptr()), vld1_s16(y.bsums[4 * i..].as_ptr())) };
        vmulq_s32(m, vmovl_s16(s))
    })
}

macro_rules! kquant {
    (@tile $fname:ident, $feat:literal, $d4:ident, $W:ty, $decode:ident, $mins:expr) => {
        /// R weight rows x C activation rows; each output in the scalar level's exact order.
        #[target_feature(enable = $feat)]
        pub fn $fname<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[BlockQ8K]; C]) -> [[f32; C]; R] {
            let mode: Mins = $mins;
            let nb = x[0].len();
            for wr in &w {
                assert_eq!(wr.len(), nb);
            }
            for xr in &x {
                assert_eq!(xr.len(), nb);
            }
            let z = vdupq_n_f32(0.0);
            let mut acc = [[(z, z); C]; R];
            let mut acc_m = [[z; C]; R];
            let mut summs = [[0f32; C]; R];
            for b in 0..nb {
                for r in 0..R {
                    let p = $decode(&w[r][b]);
                    for c in 0..C {
                        let y = &x[c][b];
                        let (mut l0, mut l1) = (vdupq_n_s32(0), vdupq_n_s32(0));
                        for j in 0..8 {
                            l0 = vmlaq_n_s32(l0, $d4(p.codes[2 * j], ld_i8(&y.qs, 32 * j)), p.sc[2 * j]);
                            l1 = vmlaq_n_s32(l1, $d4(p.codes[2 * j + 1], ld_i8(&y.qs, 32 * j + 16)), p.sc[2 * j + 1]);
                        }
                        let d = y.d * p.d;
                        let dmin = -y.d * p.dmin;
                        let a = &mut acc[r][c];
                        match mode {
                            Mins::Q2 => {
                                // lane l: groups 2l, 2l+1.
                                let m = min_products(&p.mins, y);
                                a.0 = vfmaq_n_f32(a.0, vcvtq_f32_s32(vpaddq_s32(m[0], m[1])), dmin);
                                a.1 = vfmaq_n_f32(a.1, vcvtq_f32_s32(vpaddq_s32(m[2], m[3])), dmin);
                            }
                            Mins::Q4 => {
                                // lane i: groups 4i..4i+4 (sub-blocks 2i, 2i+1).
                                let m = min_products(&p.mins, y);
                                let s = vpaddq_s32(vpaddq_s32(m[0], m[1]), vpaddq_s32(m[2], m[3]));
                                acc_m[r][c] = vfmaq_n_f32(acc_m[r][c], vcvtq_f32_s32(s), dmin);
                            }
                            Mins::Q5 => {
                                let m = min_products(&p.mins, y);
                                let s = vaddvq_s32(vaddq_s32(vaddq_s32(m[0], m[1]), vaddq_s32(m[2], m[3])));
                                summs[r][c] = dmin.mul_add(s as f32, summs[r][c]);
                            }
                            Mins::Q6 => {
                                // The -32 offset: 32 * scale x bsum, lane l groups 2l, 2l+1.
                                let o = min_products(&p.sc, y);
                                l0 = vsubq_s32(l0, vshlq_n_s32::<5>(vpaddq_s32(o[0], o[1])));
                                l1 = vsubq_s32(l1, vshlq_n_s32::<5>(vpaddq_s32(o[2], o[3])));
                            }
                            Mins::None => {}
                        }
                        a.0 = vfmaq_n_f32(a.0, vcvtq_f32_s32(l0), d);
                        a.1 = vfmaq_n_f32(a.1, vcvtq_f32_s32(l1), d);
                    }
                }
            }
            let mut out = [[0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    let s = hsum8(acc[r][c].0, acc[r][c].1);
                    out[r][c] = match mode {
                        Mins::Q4 => {
                            let m = acc_m[r][c];
                            let h = vadd_f32(vget_low_f32(m), vget_high_f32(m));
                            s + (vget_lane_f32::<0>(h) + vget_lane_f32::<1>(h))
                        }
                        Mins::Q5 => s + summs[r][c],
                        _ => s,
                    };
                }
            }
            out
        }
    };
    ($name:ident, $W:ty, $decode:ident, $mins:expr) => {
        pub(super) mod $name {
            use super::*;
            kquant!(@tile tile, "neon", dot4, $W, $decode, $mins);
            kquant!(@tile tile_sdot, "neon,dotprod", dot4_sdot, $W, $decode, $mins);
        }
    };
}

kquant!(q2_k, BlockQ2K, decode_q2_k, Mins::Q2);
kquant!(q3_k, BlockQ3K, decode_q3_k, Mins::None);
kquant!(q4_k, BlockQ4K, decode_q4_k, Mins::Q4);
kquant!(q5_k, BlockQ5K, decode_q5_k, Mins::Q5);
kquant!(q6_k, BlockQ6K, decode_q6_k, Mins::Q6);
