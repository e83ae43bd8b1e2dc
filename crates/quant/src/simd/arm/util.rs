//! Small NEON building blocks shared by the aarch64 kernels. Every function here is
//! `#[target_feature(enable = "neon")]` (the `_sdot` ones also `dotprod`), so it is only
//! callable from kernels compiled with the same features, which are reached only through the
//! table built after detection.
//!
//! The integer helpers compute *exact* sums (i8 x i8 products widen to i16, pairs to i32; no
//! saturation is possible for the block formats' ranges), so how the integer work is grouped
//! never changes a result; what matters is which elements land in which i32 lane before the
//! float conversion (four consecutive bytes per lane, as in ggml's x86 kernels).

use half::f16;
use std::arch::aarch64::*;
use std::arch::asm;

/// Lane l = `a[4l..4l+4] . b[4l..4l+4]`, with plain NEON: `vmull_s8` products (exact in i16,
/// even -128 * -128), `vpaddlq_s16` pairs, `vpaddq_s32` pairs of pairs. The widening multiply
/// and pairwise add are the idea of ggml-cpu's `ggml_vdotq_s32` fallback (ggml-cpu-impl.h),
/// but that one adds lanes of the low and high halves together, a grouping different from
/// `sdot`'s; ours pairs neighbours so every lane equals `sdot`'s (and the x86 lanes).
#[inline]
#[target_feature(enable = "neon")]
pub fn dot4(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi))
}

/// [`dot4`] with one `sdot` (ARMv8.2 dotprod): the same four lane sums, bit for bit.
/// `core::arch`'s `vdotq_s32` is still unstable, hence the one-instruction `asm!`.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub fn dot4_sdot(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = vdupq_n_s32(0);
    // SAFETY: `sdot` only reads `a`, `b` and writes `acc` (registers only: no memory, stack
    // or flags); this function requires dotprod, which the table checks before using it.
    unsafe {
        asm!("sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags));
    }
    acc
}

/// Four f16 -> f32 with `fcvtl` (base ARMv8 AdvSIMD, exact: every f16 is an f32; NaNs come
/// out quiet, as `half`'s conversion gives them). `core::arch`'s f16 vector types are
/// unstable, hence the `asm!`.
#[inline]
#[target_feature(enable = "neon")]
pub fn h2f4(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` reads `h` and writes `out`, registers only. FPCR is Linux's default
    // (no flush-to-zero), so subnormal halves convert exactly.
    unsafe {
        asm!("fcvtl {o:v}.4s, {i:v}.4h", o = out(vreg) out, i = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// Four f32 -> f16 with `fcvtn`: round to nearest even, overflow to infinity, subnormals
/// kept; what `half::f16::from_f32` computes for every non-NaN value.
#[inline]
#[target_feature(enable = "neon")]
pub fn f2h4(x: float32x4_t) -> uint16x4_t {
    let out: uint16x4_t;
    // SAFETY: `fcvtn` reads `x` and writes `out`, registers only; FPCR is Linux's default
    // (round to nearest even, no flush-to-zero).
    unsafe {
        asm!("fcvtn {o:v}.4h, {i:v}.4s", o = out(vreg) out, i = in(vreg) x,
            options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// One f16 -> f32, inline (`half`'s conversion re-detects the CPU on each call).
#[inline]
#[target_feature(enable = "neon")]
pub fn h2f(h: f16) -> f32 {
    vgetq_lane_f32::<0>(h2f4(vdup_n_u16(h.to_bits())))
}

/// The first two f16 of a block (`d`, then `m` or `s`) as f32, in one conversion.
#[inline]
#[target_feature(enable = "neon")]
pub fn head2<B: bytemuck::Pod>(b: &B) -> (f32, f32) {
    let h = &bytemuck::bytes_of(b)[..4];
    let bits = [u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]]), 0, 0];
    // SAFETY: `bits` is 4 readable u16.
    let v = h2f4(unsafe { vld1_u16(bits.as_ptr()) });
    (vgetq_lane_f32::<0>(v), vgetq_lane_f32::<1>(v))
}

/// ggml's `hsum_float_8` on lanes `lo` = 0..4, `hi` = 4..8: `((a0+a4)+(a2+a6)) +
/// ((a1+a5)+(a3+a7))` ([`crate::emulate::hsum8`]).
#[inline]
#[target_feature(enable = "neon")]
pub fn hsum8(lo: float32x4_t, hi: float32x4_t) -> f32 {
    let r = vaddq_f32(lo, hi);
    let s = vadd_f32(vget_low_f32(r), vget_high_f32(r));
    vget_lane_f32::<0>(s) + vget_lane_f32::<1>(s)
}

/// 16 bytes from `s[off..]` (bounds-checked).
#[inline]
#[target_feature(enable = "neon")]
pub fn ld_u8(s: &[u8], off: usize) -> uint8x16_t {
    let v = &s[off..off + 16];
    // SAFETY: v is 16 readable bytes; vld1q has no alignment requirement.
    unsafe { vld1q_u8(v.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
pub fn ld_i8(s: &[i8], off: usize) -> int8x16_t {
    let v = &s[off..off + 16];
    // SAFETY: as for ld_u8.
    unsafe { vld1q_s8(v.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
pub fn ld_f32(s: &[f32], off: usize) -> float32x4_t {
    let v = &s[off..off + 4];
    // SAFETY: v is 4 readable f32; unaligned is fine for vld1q.
    unsafe { vld1q_f32(v.as_ptr()) }
}

#[inline]
#[target_feature(enable = "neon")]
pub fn st_f32(s: &mut [f32], off: usize, v: float32x4_t) {
    let d = &mut s[off..off + 4];
    // SAFETY: d is 4 writable f32.
    unsafe { vst1q_f32(d.as_mut_ptr(), v) }
}

/// Four u16 from `s[off..]`, for f16 / bf16 rows.
#[inline]
#[target_feature(enable = "neon")]
pub fn ld_u16x4<T: bytemuck::Pod>(s: &[T], off: usize) -> uint16x4_t {
    let v: &[u16] = bytemuck::cast_slice(&s[off..off + 4]);
    // SAFETY: v is 4 readable u16 (T is a 2-byte Pod: f16 or bf16).
    unsafe { vld1_u16(v.as_ptr()) }
}

/// Bytes 0xFF where bit `i` of `bits` is set, for i in 0..16: the fifth bits of Q5_0/Q5_1.
#[inline]
#[target_feature(enable = "neon")]
pub fn bits16(bits: u16) -> uint8x16_t {
    let [b0, b1] = bits.to_le_bytes();
    let v = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
    const MASK: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: MASK is 16 readable bytes.
    vtstq_u8(v, unsafe { vld1q_u8(MASK.as_ptr()) })
}

/// Sixteen i8 -> four f32 vectors (exact).
#[inline]
#[target_feature(enable = "neon")]
pub fn i8_to_f32(v: int8x16_t) -> [float32x4_t; 4] {
    let lo = vmovl_s8(vget_low_s8(v));
    let hi = vmovl_high_s8(v);
    [
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))),
        vcvtq_f32_s32(vmovl_high_s16(lo)),
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))),
        vcvtq_f32_s32(vmovl_high_s16(hi)),
    ]
}
