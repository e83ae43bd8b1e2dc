//! ggml-cpu's x86 AVX2 `ggml_vec_dot_q{2,3,4,5}_K_q8_K` (arch/x86/quants.c) in scalar code:
//! the order llama.cpp computes one token (and batches below the tiled kernel's minimum) of
//! non-repacked K-quant weights in. (Q6_K's is [`super::vec_dot_q6_k_q8_k`].)
//!
//! Per super-block the integer products go into eight exact i32 lanes, lane l holding
//! `scale * code * q8` for bytes 4l..4l+4 of every 32-element slice, which is
//! `f32`-converted and accumulated with one FMA by `d = d8 * d` into an 8-lane accumulator
//! that ends in [`hsum8`]. The mins (`dmin` term, with `dmin = -d8 * dmin`) enter per type:
//! - Q2_K: into the same 8 lanes, first, lane l = mins of groups 2l, 2l+1 times their bsums;
//! - Q3_K: no mins (the -4 of a clear high bit is in the codes);
//! - Q4_K: a 4-lane accumulator, lane i = mins of sub-blocks 2i, 2i+1 times their 32-element
//!   sums, reduced `(m0 + m2) + (m1 + m3)` and added after the `hsum8`;
//! - Q5_K: a scalar `summs = fma(dmin, sum of all mins terms, summs)`, added after the `hsum8`.

use super::hsum8;
use super::kquant::{kblock_q2_k, kblock_q3_k, kblock_q4_k, kblock_q5_k, KBlock};
use crate::blocks::*;

/// The eight lane sums of `scale * code * q8` over one super-block.
fn lanes(w: &KBlock, y: &BlockQ8K) -> [i32; 8] {
    let mut s = [0i32; 8];
    for e in 0..QK_K {
        s[(e % 32) / 4] += w.scales[e / w.sub] * w.codes[e] * y.qs[e] as i32;
    }
    s
}

/// `sum min * bsum` over 32 elements `32i..32i+32` (two bsums), for i in 0..8.
fn mins32(w: &KBlock, y: &BlockQ8K) -> [i32; 8] {
    std::array::from_fn(|i| (2 * i..2 * i + 2).map(|g| w.mins[g * 16 / w.sub] * y.bsums[g] as i32).sum())
}

/// The shared shape: per block `pre(acc, acc_m, summs, w, y, dmin)` then the 8-lane FMA by
/// `d`; returns `hsum8(acc)`, `acc_m` and `summs` for each type to combine as ggml does.
fn kdot(blocks: impl Iterator<Item = (KBlock, BlockQ8K)>, pre: impl Fn(&mut [f32; 8], &mut [f32; 4], &mut f32, &KBlock, &BlockQ8K, f32)) -> (f32, [f32; 4], f32) {
    let mut acc = [0f32; 8];
    let mut acc_m = [0f32; 4];
    let mut summs = 0f32;
    for (w, y) in blocks {
        let (d, dmin) = (y.d * w.d, -y.d * w.dmin);
        pre(&mut acc, &mut acc_m, &mut summs, &w, &y, dmin);
        let s = lanes(&w, &y);
        for l in 0..8 {
            acc[l] = d.mul_add(s[l] as f32, acc[l]);
        }
    }
    (hsum8(&acc), acc_m, summs)
}

/// ggml-cpu x86 `ggml_vec_dot_q2_K_q8_K` (AVX2).
pub fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    kdot(x.iter().zip(y).map(|(a, b)| (kblock_q2_k(a), *b)), |acc, _, _, w, y, dmin| {
        for (l, a) in acc.iter_mut().enumerate() {
            let m = w.mins[2 * l] * y.bsums[2 * l] as i32 + w.mins[2 * l + 1] * y.bsums[2 * l + 1] as i32;
            *a = dmin.mul_add(m as f32, *a);
        }
    })
    .0
}

/// ggml-cpu x86 `ggml_vec_dot_q3_K_q8_K` (AVX2).
pub fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    kdot(x.iter().zip(y).map(|(a, b)| (kblock_q3_k(a), *b)), |_, _, _, _, _, _| {}).0
}

/// ggml-cpu x86 `ggml_vec_dot_q4_K_q8_K` (AVX2).
pub fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let (s, m, _) = kdot(x.iter().zip(y).map(|(a, b)| (kblock_q4_k(a), *b)), |_, acc_m, _, w, y, dmin| {
        let m = mins32(w, y);
        for (i, a) in acc_m.iter_mut().enumerate() {
            *a = dmin.mul_add((m[2 * i] + m[2 * i + 1]) as f32, *a);
        }
    });
    s + ((m[0] + m[2]) + (m[1] + m[3]))
}

/// ggml-cpu x86 `ggml_vec_dot_q5_K_q8_K` (AVX2). (`summs += dmin * sum` is contracted into
/// an FMA by GCC.)
pub fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let (s, _, summs) = kdot(x.iter().zip(y).map(|(a, b)| (kblock_q5_k(a), *b)), |_, _, summs, w, y, dmin| {
        *summs = dmin.mul_add(mins32(w, y).iter().sum::<i32>() as f32, *summs);
    });
    s + summs
}
