//! Scalar emulations of the float operation order of ggml-cpu's x86 AVX2 dot products.
//!
//! Why this exists: llama.cpp's answers depend on the order in which its SIMD kernels add
//! floats. The models we test against are chaotic enough that a different order (even a
//! correct one, like `reference`'s) flips some 8-bit activation roundings and moves log-probs by
//! 0.1-0.3 nats after 30 layers. To give the *same answers* as llama.cpp, our fast kernels
//! reproduce its AVX2 order exactly, and these scalar functions define that order in plain
//! code: the SIMD kernels must match them bit for bit (tested), and on machines without AVX2
//! the scalar level uses them, so every platform computes the same logits.
//!
//! The shapes reproduced (see ggml-cpu `arch/x86/quants.c`, `vec.cpp`):
//! - "type-0" blocks of 32 (Q4_1, Q5_0, Q5_1, Q8_0): eight lanes, lane `l` holding the exact
//!   integer sum of elements `4l..4l+4` of the block, converted to f32 and accumulated with one
//!   FMA per block, `acc[l] = fma(dx*dy, lane[l], acc[l])`; then [`hsum8`].
//! - f32 dots: four 8-lane FMA accumulators over steps of 32, reduced pairwise, then the
//!   tail added one product at a time ([`dot_f32`]).

use crate::blocks::*;

pub mod kdot;
pub mod kquant;
pub(crate) mod table;
pub mod tinyblas;

/// ggml's `hsum_float_8`: ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)).
#[inline]
pub fn hsum8(a: &[f32; 8]) -> f32 {
    let r = [a[4] + a[0], a[5] + a[1], a[6] + a[2], a[7] + a[3]];
    let (s0, s1) = (r[0] + r[2], r[1] + r[3]);
    s0 + s1
}

/// Eight lane sums of a 32-element integer block product, as maddubs + madd produce them.
#[inline]
fn lanes(x: &[i32; 32], y: &[i8; 32]) -> [f32; 8] {
    let mut out = [0f32; 8];
    for (l, o) in out.iter_mut().enumerate() {
        let mut s = 0i32;
        for b in 4 * l..4 * l + 4 {
            s += x[b] * y[b] as i32;
        }
        *o = s as f32;
    }
    out
}

#[inline]
fn fma_lanes(acc: &mut [f32; 8], d: f32, q: &[f32; 8]) {
    for l in 0..8 {
        acc[l] = d.mul_add(q[l], acc[l]);
    }
}

fn unpack_nibbles(qs: &[u8; 16]) -> [i32; 32] {
    let mut x = [0i32; 32];
    for j in 0..16 {
        x[j] = (qs[j] & 0x0F) as i32;
        x[j + 16] = (qs[j] >> 4) as i32;
    }
    x
}

/// ggml-cpu x86 `ggml_vec_dot_q4_1_q8_1` (AVX2).
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let (d0, d1) = (xb.d.to_f32(), yb.d.to_f32());
        // GCC contracts `summs += m * s` into an FMA under -march=native.
        summs = xb.m.to_f32().mul_add(yb.s.to_f32(), summs);
        let q = lanes(&unpack_nibbles(&xb.qs), &yb.qs);
        fma_lanes(&mut acc, d0 * d1, &q);
    }
    hsum8(&acc) + summs
}

/// ggml-cpu x86 `ggml_gemv_q4_0_8x8_q8_0` and `ggml_gemm_q4_0_8x8_q8_0` (arch/x86/repack.cpp,
/// `gemv_q4_b32_8x8_q8_0_lut_avx` / `gemm_q4_b32_8x8_q8_0_lut_avx`): the order of repacked
/// Q4_0 weights, for single tokens and groups of 4 alike. One f32 accumulator per output and
/// per block `acc = fma(f32(isum), dw * dx, acc)`, `isum` the exact integer dot product of the
/// block (codes `q - 8`); no horizontal float sum.
pub fn repack_dot_q4_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        let q = unpack_nibbles(&xb.qs);
        let isum: i32 = (0..32).map(|i| (q[i] - 8) * yb.qs[i] as i32).sum();
        acc = (isum as f32).mul_add(xb.d.to_f32() * yb.d.to_f32(), acc);
    }
    acc
}

/// ggml-cpu x86 `ggml_vec_dot_q8_0_q8_0` (AVX2).
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let xs: [i32; 32] = std::array::from_fn(|i| xb.qs[i] as i32);
        let q = lanes(&xs, &yb.qs);
        fma_lanes(&mut acc, xb.d.to_f32() * yb.d.to_f32(), &q);
    }
    hsum8(&acc)
}

/// ggml-cpu x86 `ggml_vec_dot_q5_0_q8_0` (AVX2).
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(xb.qh);
        let mut xs = unpack_nibbles(&xb.qs);
        for (j, v) in xs.iter_mut().enumerate() {
            *v += (((qh >> j) & 1) as i32) * 16 - 16;
        }
        let q = lanes(&xs, &yb.qs);
        fma_lanes(&mut acc, xb.d.to_f32() * yb.d.to_f32(), &q);
    }
    hsum8(&acc)
}

/// ggml-cpu x86 `ggml_vec_dot_q5_1_q8_1` (AVX2).
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (xb, yb) in x.iter().zip(y) {
        summs = xb.m.to_f32().mul_add(yb.s.to_f32(), summs);
        let qh = u32::from_le_bytes(xb.qh);
        let mut xs = unpack_nibbles(&xb.qs);
        for (j, v) in xs.iter_mut().enumerate() {
            *v += (((qh >> j) & 1) as i32) * 16;
        }
        let q = lanes(&xs, &yb.qs);
        fma_lanes(&mut acc, xb.d.to_f32() * yb.d.to_f32(), &q);
    }
    hsum8(&acc) + summs
}

/// ggml-cpu `ggml_vec_dot_f32` on AVX2: 4 accumulators × 8 lanes over steps of 32, reduced
/// (acc0+acc2)+(acc1+acc3), then the 8 lanes by two hadds; then the tail one product at a time.
pub fn dot_f32(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let np = n & !31;
    let mut acc = [[0f32; 8]; 4];
    let mut i = 0;
    while i < np {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, lane) in a.iter_mut().enumerate() {
                let k = i + j * 8 + l;
                *lane = x[k].mul_add(y[k], *lane);
            }
        }
        i += 32;
    }
    let mut sum = reduce4x8(&acc);
    // The compiled tail (GCC, -march=native): products four at a time, rounded, then added in
    // order; the last n % 4 products are fused into the sum.
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

/// GGML_F32x8_REDUCE: x0+=x2, x1+=x3, x0+=x1, then (lo+hi) and two horizontal adds.
pub fn reduce4x8(acc: &[[f32; 8]; 4]) -> f32 {
    let mut x0 = [0f32; 8];
    let mut x1 = [0f32; 8];
    for l in 0..8 {
        x0[l] = acc[0][l] + acc[2][l];
        x1[l] = acc[1][l] + acc[3][l];
    }
    for l in 0..8 {
        x0[l] += x1[l];
    }
    let t0 = [x0[0] + x0[4], x0[1] + x0[5], x0[2] + x0[6], x0[3] + x0[7]];
    // _mm_hadd_ps(t0, t0) = [t0+t1, t2+t3, t0+t1, t2+t3]; once more: (t0+t1)+(t2+t3).
    let t1 = [t0[0] + t0[1], t0[2] + t0[3]];
    t1[0] + t1[1]
}

/// The 256 unsigned 6-bit values of a Q6_K block, in element order.
fn q6_k_values(x: &BlockQ6K) -> [i32; 256] {
    let mut q = [0i32; 256];
    for j in 0..2 {
        let (ql, qh) = (&x.ql[64 * j..], &x.qh[32 * j..]);
        for l in 0..32 {
            let h = qh[l] as i32;
            q[j * 128 + l] = (ql[l] & 0x0F) as i32 | (h & 3) << 4;
            q[j * 128 + l + 32] = (ql[l + 32] & 0x0F) as i32 | ((h >> 2) & 3) << 4;
            q[j * 128 + l + 64] = (ql[l] >> 4) as i32 | ((h >> 4) & 3) << 4;
            q[j * 128 + l + 96] = (ql[l + 32] >> 4) as i32 | ((h >> 6) & 3) << 4;
        }
    }
    q
}

/// ggml-cpu x86 `ggml_vec_dot_q6_K_q8_K` (AVX2): per super-block, eight exact integer lane
/// sums (lane L gets bytes 4L..4L+4 of every 32-element slice, times their 16-element scale),
/// minus the -32 offset folded in through `bsums` (lane L: groups 2L and 2L+1), then one FMA
/// per lane with `d = d8 * d6`.
pub fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (xb, yb) in x.iter().zip(y) {
        let d = yb.d * xb.d.to_f32();
        let q = q6_k_values(xb);
        let mut sumi = [0i32; 8];
        for (e, &qe) in q.iter().enumerate() {
            sumi[(e % 32) / 4] += xb.scales[e / 16] as i32 * qe * yb.qs[e] as i32;
        }
        for (l, s) in sumi.iter_mut().enumerate() {
            let off = yb.bsums[2 * l] as i32 * xb.scales[2 * l] as i32 + yb.bsums[2 * l + 1] as i32 * xb.scales[2 * l + 1] as i32;
            *s -= off << 5;
        }
        for l in 0..8 {
            acc[l] = d.mul_add(sumi[l] as f32, acc[l]);
        }
    }
    hsum8(&acc)
}
