//! Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 dot products, in the float orders of llama.cpp's x86
//! kernels (so NEON answers equal the AVX2 table's; for all but Q4_0 also the scalar one's):
//! - Q4_1, Q5_0, Q5_1, Q8_0 ([`crate::emulate`], ggml's AVX2 `ggml_vec_dot_*` order): per
//!   block eight exact i32 lanes (lane l = bytes 4l..4l+4; two NEON vectors, lanes 0..4 from
//!   elements 0..16 and 4..8 from 16..32) converted to f32 and accumulated with one FMA by
//!   `dw * dx`; with an offset, `summs = fma(m, s, summs)` alongside; at the end ggml's
//!   `hsum_float_8`, plus `summs`.
//! - Q4_0 ([`crate::emulate::repack_dot_q4_0`], the repacked order llama.cpp runs for Q4_0,
//!   which the AVX2 table and the scalar table's batch entries use; the scalar vec_dot keeps
//!   ggml's generic order): per block the whole exact integer sum, then one scalar
//!   `acc = fma(isum, dw * dx, acc)`.
//!
//! Decoding: every type becomes 32 signed bytes, elements 0..16 and 16..32, with the offsets
//! (-8, -16) applied for the types without `m`. Splitting the nibbles with a mask and a shift
//! into two byte vectors, then subtracting 8, is the idea of ggml's arm
//! `ggml_vec_dot_q4_0_q8_0` (arch/arm/quants.c); the fifth-bit expansion is ours.

use super::util::*;
use crate::blocks::*;
use std::arch::aarch64::*;

/// Generates, for one type-0 format: `decode` (its 32 codes), `tile::<R, C>` (plain NEON)
/// and `tile_sdot::<R, C>` (dotprod), identical per output, and `dot` / `dot_sdot`.
/// `min`: the block has an offset `m` (activation `s`); `whole`: Q4_0's whole-block order.
macro_rules! type0 {
    (@tile $fname:ident, $feat:literal, $d4:ident, $W:ty, $X:ty, $has_min:literal, $whole:literal) => {
        /// R weight rows x C activation rows; each output in the scalar level's exact order.
        #[target_feature(enable = $feat)]
        pub fn $fname<const R: usize, const C: usize>(w: [&[$W]; R], x: [&[$X]; C]) -> [[f32; C]; R] {
            let nb = x[0].len();
            for wr in &w {
                assert_eq!(wr.len(), nb);
            }
            for xr in &x {
                assert_eq!(xr.len(), nb);
            }
            let mut acc = [[(vdupq_n_f32(0.0), vdupq_n_f32(0.0)); C]; R];
            let mut sums = [[0f32; C]; R];
            for b in 0..nb {
                let mut qy = [(vdupq_n_s8(0), vdupq_n_s8(0)); C];
                let mut hy = [(0f32, 0f32); C];
                for c in 0..C {
                    let y = &x[c][b];
                    qy[c] = (ld_i8(&y.qs, 0), ld_i8(&y.qs, 16));
                    hy[c] = head2(y);
                }
                for r in 0..R {
                    let wb = &w[r][b];
                    let (lo, hi) = decode(wb);
                    let (dw, mw) = head2(wb);
                    for c in 0..C {
                        let l0 = $d4(lo, qy[c].0);
                        let l1 = $d4(hi, qy[c].1);
                        let d = dw * hy[c].0;
                        if $whole {
                            let isum = vaddvq_s32(vaddq_s32(l0, l1));
                            sums[r][c] = (isum as f32).mul_add(d, sums[r][c]);
                        } else {
                            if $has_min {
                                sums[r][c] = mw.mul_add(hy[c].1, sums[r][c]);
                            }
                            let a = &mut acc[r][c];
                            a.0 = vfmaq_n_f32(a.0, vcvtq_f32_s32(l0), d);
                            a.1 = vfmaq_n_f32(a.1, vcvtq_f32_s32(l1), d);
                        }
                    }
                }
            }
            let mut out = [[0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    out[r][c] = if $whole {
                        sums[r][c]
                    } else if $has_min {
                        hsum8(acc[r][c].0, acc[r][c].1) + sums[r][c]
                    } else {
                        hsum8(acc[r][c].0, acc[r][c].1)
                    };
                }
            }
            out
        }
    };
    ($name:ident, $W:ty, $X:ty, min: $has_min:literal, whole: $whole:literal, decode: |$wb:ident| $decode:block) => {
        pub(super) mod $name {
            use super::*;

            /// The 32 codes of a block as signed bytes: elements 0..16, 16..32.
            #[inline]
            #[target_feature(enable = "neon")]
            pub fn decode($wb: &$W) -> (int8x16_t, int8x16_t) $decode

            type0!(@tile tile, "neon", dot4, $W, $X, $has_min, $whole);
            type0!(@tile tile_sdot, "neon,dotprod", dot4_sdot, $W, $X, $has_min, $whole);
        }
    };
}

/// Low and high nibbles of 16 bytes: elements 0..16 and 16..32 of a 4-bit block.
#[inline]
#[target_feature(enable = "neon")]
fn nibbles(qs: &[u8; 16]) -> (uint8x16_t, uint8x16_t) {
    let v = ld_u8(qs, 0);
    (vandq_u8(v, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(v))
}

/// The fifth bits of a Q5 block as 0x10 bytes: elements 0..16, 16..32.
#[inline]
#[target_feature(enable = "neon")]
fn fifth_bits(qh: [u8; 4]) -> (uint8x16_t, uint8x16_t) {
    let qh = u32::from_le_bytes(qh);
    let m = vdupq_n_u8(0x10);
    (vandq_u8(bits16(qh as u16), m), vandq_u8(bits16((qh >> 16) as u16), m))
}

type0!(q4_0, BlockQ4_0, BlockQ8_0, min: false, whole: true, decode: |b| {
    let (lo, hi) = nibbles(&b.qs);
    let eight = vdupq_n_s8(8);
    (vsubq_s8(vreinterpretq_s8_u8(lo), eight), vsubq_s8(vreinterpretq_s8_u8(hi), eight))
});

type0!(q4_1, BlockQ4_1, BlockQ8_1, min: true, whole: false, decode: |b| {
    let (lo, hi) = nibbles(&b.qs);
    (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
});

type0!(q5_0, BlockQ5_0, BlockQ8_0, min: false, whole: false, decode: |b| {
    let (lo, hi) = nibbles(&b.qs);
    let (h0, h1) = fifth_bits(b.qh);
    let sixteen = vdupq_n_s8(16);
    (
        vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, h0)), sixteen),
        vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi, h1)), sixteen),
    )
});

type0!(q5_1, BlockQ5_1, BlockQ8_1, min: true, whole: false, decode: |b| {
    let (lo, hi) = nibbles(&b.qs);
    let (h0, h1) = fifth_bits(b.qh);
    (vreinterpretq_s8_u8(vorrq_u8(lo, h0)), vreinterpretq_s8_u8(vorrq_u8(hi, h1)))
});

type0!(q8_0, BlockQ8_0, BlockQ8_0, min: false, whole: false, decode: |b| {
    (ld_i8(&b.qs, 0), ld_i8(&b.qs, 16))
});
