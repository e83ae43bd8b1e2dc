//! The batched k-quant orders of ggml-cpu on x86: the tiled kernel (`tiled/tiled-kernel.cpp`,
//! `tiled_run_microtile_avx2`) and the repacked Q4_K kernels (`arch/x86/repack.cpp`,
//! `ggml_gemv_q4_K_8x8_q8_K` and `ggml_gemm_q4_K_8x8_q8_K`).
//!
//! All three do the integer work exactly and differ only in where floats enter, which is what
//! these functions pin down. A super-block is seen as exact integers ([`KBlock`]):
//! `w_e = d * scale[e / sub] * code_e - dmin * min[e / sub]`.

use crate::blocks::*;
use crate::reference::{kquant_common::get_scale_min_k4, q3_k_scales};

/// A k-quant super-block as integers: codes with their offsets applied, per-sub-block scales
/// and mins, and the two f16 factors widened to f32.
pub struct KBlock {
    pub d: f32,
    pub dmin: f32,
    /// Elements per sub-block: 16 (Q2_K, Q3_K, Q6_K) or 32 (Q4_K, Q5_K).
    pub sub: usize,
    pub codes: [i32; QK_K],
    pub scales: [i32; 16],
    pub mins: [i32; 16],
}

pub fn kblock_q2_k(b: &BlockQ2K) -> KBlock {
    let codes = std::array::from_fn(|e| {
        let (h, s, k) = (e / 128, (e % 128) / 32, e % 32);
        ((b.qs[32 * h + k] >> (2 * s)) & 3) as i32
    });
    KBlock {
        d: b.d.to_f32(),
        dmin: b.dmin.to_f32(),
        sub: 16,
        codes,
        scales: std::array::from_fn(|j| (b.scales[j] & 0xF) as i32),
        mins: std::array::from_fn(|j| (b.scales[j] >> 4) as i32),
    }
}

pub fn kblock_q3_k(b: &BlockQ3K) -> KBlock {
    let sc = q3_k_scales(&b.scales);
    KBlock {
        d: b.d.to_f32(),
        dmin: 0.0,
        sub: 16,
        codes: std::array::from_fn(|e| crate::reference::q3_k::q3(b, e)),
        scales: std::array::from_fn(|j| sc[j] as i32),
        mins: [0; 16],
    }
}

fn scale_min_k4(scales: &[u8; 12]) -> ([i32; 16], [i32; 16]) {
    let mut s = [0i32; 16];
    let mut m = [0i32; 16];
    for j in 0..8 {
        let (a, b) = get_scale_min_k4(j, scales);
        s[j] = a as i32;
        m[j] = b as i32;
    }
    (s, m)
}

pub fn kblock_q4_k(b: &BlockQ4K) -> KBlock {
    let (scales, mins) = scale_min_k4(&b.scales);
    let codes = std::array::from_fn(|e| {
        let (g, k) = (e / 32, e % 32);
        ((b.qs[32 * (g / 2) + k] >> (4 * (g % 2))) & 0xF) as i32
    });
    KBlock { d: b.d.to_f32(), dmin: b.dmin.to_f32(), sub: 32, codes, scales, mins }
}

pub fn kblock_q5_k(b: &BlockQ5K) -> KBlock {
    let (scales, mins) = scale_min_k4(&b.scales);
    let codes = std::array::from_fn(|e| crate::reference::q5_k::q5(b, e) as i32);
    KBlock { d: b.d.to_f32(), dmin: b.dmin.to_f32(), sub: 32, codes, scales, mins }
}

pub fn kblock_q6_k(b: &BlockQ6K) -> KBlock {
    KBlock {
        d: b.d.to_f32(),
        dmin: 0.0,
        sub: 16,
        codes: std::array::from_fn(|e| crate::reference::q6_k::q6(b, e)),
        scales: std::array::from_fn(|j| b.scales[j] as i32),
        mins: [0; 16],
    }
}

/// Exact integer sums over elements `lo..hi` of a super-block: `sum scale * code * q8` and
/// `sum min * bsum` (the bsums are per 16 elements, so `lo`, `hi` are multiples of 16).
fn int_sums(w: &KBlock, y: &BlockQ8K, lo: usize, hi: usize) -> (i32, i32) {
    let mut s1 = 0i32;
    let mut s2 = 0i32;
    for e in lo..hi {
        s1 += w.scales[e / w.sub] * w.codes[e] * y.qs[e] as i32;
    }
    for g in lo / 16..hi / 16 {
        s2 += w.mins[g * 16 / w.sub] * y.bsums[g] as i32;
    }
    (s1, s2)
}

/// `tiled_run_microtile_avx2`: per super-block `r = d * s1`, then `r = fma(-dmin, s2, r)`
/// for types with mins, then `acc = fma(r, d8, acc)`.
pub fn tiled_dot(blocks: impl Iterator<Item = (KBlock, BlockQ8K)>, has_min: bool) -> f32 {
    let mut acc = 0f32;
    for (w, y) in blocks {
        let (s1, s2) = int_sums(&w, &y, 0, QK_K);
        let mut r = w.d * s1 as f32;
        if has_min {
            r = (-w.dmin).mul_add(s2 as f32, r);
        }
        acc = r.mul_add(y.d, acc);
    }
    acc
}

/// `ggml_gemv_q4_K_8x8_q8_K` (AVX2): per super-block one FMA into the scaled sum and one into
/// the mins sum, `acc = fma(s1, d * d8, acc)`, `accm = fma(s2, dmin * d8, accm)`; the result is
/// `acc - accm`.
pub fn repack_gemv_dot_q4_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    repack_dot(x, y, QK_K)
}

/// `ggml_gemm_q4_K_8x8_q8_K` (AVX2, groups of 4 tokens): as the gemv but with the FMAs per 64
/// elements (two sub-blocks) instead of per super-block.
pub fn repack_gemm_dot_q4_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    repack_dot(x, y, 64)
}

fn repack_dot(x: &[BlockQ4K], y: &[BlockQ8K], step: usize) -> f32 {
    let mut acc = 0f32;
    let mut accm = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let w = kblock_q4_k(xb);
        for lo in (0..QK_K).step_by(step) {
            let (s1, s2) = int_sums(&w, yb, lo, lo + step);
            acc = (s1 as f32).mul_add(w.d * yb.d, acc);
            accm = (s2 as f32).mul_add(w.dmin * yb.d, accm);
        }
    }
    acc - accm
}

/// Which of the orders above a batched scalar gemm follows.
#[derive(Clone, Copy)]
pub enum Order {
    /// [`tiled_dot`].
    Tiled { has_min: bool },
    /// [`repack_gemv_dot_q4_k`] (`QK_K`) or [`repack_gemm_dot_q4_k`] (64): FMAs every `step`
    /// elements.
    Repack { step: usize },
}

/// The accumulators of one (row, token) pair in [`Order`].
#[derive(Clone, Copy, Default)]
struct Acc {
    acc: f32,
    accm: f32,
}

fn step(order: Order, w: &KBlock, y: &BlockQ8K, a: &mut Acc) {
    match order {
        Order::Tiled { has_min } => {
            let (s1, s2) = int_sums(w, y, 0, QK_K);
            let mut r = w.d * s1 as f32;
            if has_min {
                r = (-w.dmin).mul_add(s2 as f32, r);
            }
            a.acc = r.mul_add(y.d, a.acc);
        }
        Order::Repack { step } => {
            for lo in (0..QK_K).step_by(step) {
                let (s1, s2) = int_sums(w, y, lo, lo + step);
                a.acc = (s1 as f32).mul_add(w.d * y.d, a.acc);
                a.accm = (s2 as f32).mul_add(w.dmin * y.d, a.accm);
            }
        }
    }
}

/// `out[c * stride + r]` for `nr` weight rows (`rb` bytes each, blocks of type `W`) and `nc`
/// Q8_K token rows, bit-identical to the per-pair functions above, but unpacking each weight
/// super-block once for up to 64 tokens: the scalar level's batched kernel.
#[allow(clippy::too_many_arguments)]
pub fn gemm_blocks<W: bytemuck::Pod>(
    n: usize,
    w: &[u8],
    nr: usize,
    x: &[u8],
    nc: usize,
    out: &mut [f32],
    stride: usize,
    view: fn(&W) -> KBlock,
    order: Order,
) {
    const TOKENS: usize = 64;
    let nb = n / QK_K;
    let (rb, xb) = (nb * std::mem::size_of::<W>(), nb * std::mem::size_of::<BlockQ8K>());
    for c0 in (0..nc).step_by(TOKENS) {
        let cn = TOKENS.min(nc - c0);
        // A fixed array, not a Vec: this also runs in decode steps, which must not allocate.
        let mut xs: [std::borrow::Cow<[BlockQ8K]>; TOKENS] = std::array::from_fn(|_| std::borrow::Cow::Borrowed(&[][..]));
        for (c, slot) in xs[..cn].iter_mut().enumerate() {
            *slot = crate::kernels::as_blocks::<BlockQ8K>(&x[(c0 + c) * xb..(c0 + c + 1) * xb]);
        }
        let xs = &xs[..cn];
        for r in 0..nr {
            let wr = crate::kernels::as_blocks::<W>(&w[r * rb..(r + 1) * rb]);
            let mut acc = [Acc::default(); TOKENS];
            for (b, wb) in wr.iter().enumerate() {
                let kb = view(wb);
                for (a, xr) in acc.iter_mut().zip(xs) {
                    step(order, &kb, &xr[b], a);
                }
            }
            for (c, a) in acc[..cn].iter().enumerate() {
                out[(c0 + c) * stride + r] = match order {
                    Order::Tiled { .. } => a.acc,
                    Order::Repack { .. } => a.acc - a.accm,
                };
            }
        }
    }
}
