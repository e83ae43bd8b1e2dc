//! Causal attention over the KV cache, computed as llama.cpp computes it without flash
//! attention, so the logits are the same: scores by ggml's f32 dot product, softmax with
//! ggml's vectorized `exp` and summation order, and the weighted sum of V rows with ggml's
//! accumulator layout ([`quant::emulate`] documents why the order matters).
//!
//! Per (token, head) task: one pass computes the scores into a per-thread row, one pass
//! exponentiates and sums them, and one pass accumulates V. No score matrix beyond one row per
//! thread, no transposed copies: K and V are read in place from the cache. Work is split over
//! (token, head) pairs; each pair writes its own output row. The online-softmax (flash)
//! variant for long contexts is [`attention_online`].

use crate::ops::vexpf;
use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;
use quant::emulate::hsum8;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Shapes and options of one attention call.
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Multiplier applied to q·k.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys in (p - window, p].
    pub window: Option<usize>,
    /// Multiply a batch's probabilities by V in llama.cpp's batched order (tinyBLAS), as it
    /// does; false: every token in the single-token order, whatever the batch.
    pub batch_order: bool,
}

/// f32 scratch the exact attention needs per thread: one score row and 32 V accumulators.
pub fn scratch_per_thread(n_ctx: usize, head_dim: usize) -> usize {
    n_ctx.next_multiple_of(32) + 32 * head_dim
}

/// `out[t][h] = softmax(q[t][h] · K[0..=p]ᵀ · scale) · V[0..=p]` for p = pos0 + t.
/// `q` and `out` are `[n][n_head * head_dim]`; `k` and `v` are the layer's cache `[n_ctx][kv_dim]`;
/// `scratch` holds [`scratch_per_thread`] floats for each pool thread.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    s: &AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    n: usize,
    pos0: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    let hd = s.head_dim;
    let dq = s.n_head * hd;
    let n_ctx = k.len() / (s.n_head_kv * hd);
    let per_thread = scratch_per_thread(n_ctx, hd);
    assert!(scratch.len() >= per_thread * pool.n_threads(), "attention scratch too small");
    let out = DisjointMut::new(&mut out[..n * dq]);
    let scratch = DisjointMut::new(scratch);
    let next = AtomicUsize::new(0);
    pool.run(&|tid, _| {
        // SAFETY: each thread uses only its own slice of the scratch.
        let mine = unsafe { scratch.range(tid * per_thread..(tid + 1) * per_thread) };
        let (scores, acc) = mine.split_at_mut(n_ctx.next_multiple_of(32));
        loop {
            let i = next.fetch_add(1, Relaxed);
            if i >= n * s.n_head {
                break;
            }
            let (t, h) = (i / s.n_head, i % s.n_head);
            // SAFETY: output row (t, h) is written only by the thread that claimed index i.
            let o = unsafe { out.range(t * dq + h * hd..t * dq + (h + 1) * hd) };
            attend_one(s, &q[t * dq + h * hd..][..hd], k, v, pos0 + t, h, n > 1 && s.batch_order, scores, acc, o);
        }
    });
}

/// One query row against keys `lo..=p`, as ggml's soft_max + mul_mat compute it. `batch`:
/// llama.cpp multiplies the probabilities by V with tinyBLAS (one 8-lane accumulator per
/// output) when several tokens are processed together, and with `ggml_vec_dot_f32` (four
/// 8-lane accumulators) for a single token; we follow it so a prompt batch and each decode
/// step give its exact values.
#[allow(clippy::too_many_arguments)]
fn attend_one(s: &AttnShape, qh: &[f32], k: &[f32], v: &[f32], p: usize, h: usize, batch: bool, scores: &mut [f32], acc: &mut [f32], out: &mut [f32]) {
    let hd = s.head_dim;
    let kv_dim = s.n_head_kv * hd;
    let g = h / (s.n_head / s.n_head_kv);
    let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w));
    let kern = quant::kernels::kernels();
    let mut max = f32::NEG_INFINITY;
    for j in lo..=p {
        let sc = (kern.dot_f32)(&k[j * kv_dim + g * hd..][..hd], qh) * s.scale;
        scores[j] = sc;
        max = if max > sc { max } else { sc };
    }
    // exp in groups of 8 cells aligned to cell 0, as ggml's vectorized loop sees the row
    // (masked cells are exact zeros there); each group's horizontal sum is added in f64.
    let mut sum = 0f64;
    let g0 = lo / 8 * 8;
    for c0 in (g0..=p).step_by(8) {
        let mut lanes = [0f32; 8];
        for (l, lane) in lanes.iter_mut().enumerate() {
            let j = c0 + l;
            if j >= lo && j <= p {
                *lane = vexpf(scores[j] - max);
                scores[j] = *lane;
            }
        }
        sum += hsum8(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    // V accumulation: cell j goes to accumulator row j % rows (8 for tinyBLAS, 32 for
    // ggml_vec_dot_f32's four 8-lane registers), then the rows are reduced in ggml's order.
    let rows = if batch { 8 } else { 32 };
    acc[..rows * hd].fill(0.0);
    for j in lo..=p {
        let w = scores[j] * inv;
        (kern.fma_row)(&mut acc[(j % rows) * hd..][..hd], &v[j * kv_dim + g * hd..][..hd], w);
    }
    for (d, o) in out.iter_mut().enumerate() {
        let lane = |r: usize| acc[r * hd + d];
        let x0: [f32; 8] = if batch {
            std::array::from_fn(lane)
        } else {
            std::array::from_fn(|l| (lane(l) + lane(16 + l)) + (lane(8 + l) + lane(24 + l)))
        };
        *o = if batch {
            hsum8(&x0)
        } else {
            // GGML_F32x8_REDUCE ends with (lo + hi) and two horizontal adds.
            let t0 = [x0[0] + x0[4], x0[1] + x0[5], x0[2] + x0[6], x0[3] + x0[7]];
            (t0[0] + t0[1]) + (t0[2] + t0[3])
        };
    }
}

/// Single-pass (online) softmax attention, FlashAttention style: a running maximum, a running
/// sum and a rescaled running V accumulator. Not bit-identical to llama.cpp's non-flash
/// attention (which the golden files use), so it is not the default.
#[allow(clippy::too_many_arguments)]
pub fn attention_online(pool: &ThreadPool, s: &AttnShape, q: &[f32], k: &[f32], v: &[f32], n: usize, pos0: usize, out: &mut [f32]) {
    let hd = s.head_dim;
    let dq = s.n_head * hd;
    let kv_dim = s.n_head_kv * hd;
    let group = s.n_head / s.n_head_kv;
    let out = DisjointMut::new(&mut out[..n * dq]);
    pool.parallel_for(n * s.n_head, 1, &|i0, i1| {
        for i in i0..i1 {
            let (t, h) = (i / s.n_head, i % s.n_head);
            let p = pos0 + t;
            let g = h / group;
            let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w));
            let qh = &q[t * dq + h * hd..t * dq + (h + 1) * hd];
            // SAFETY: output row (t, h) is written only by the task that claimed index i.
            let acc = unsafe { out.range(t * dq + h * hd..t * dq + (h + 1) * hd) };
            acc.fill(0.0);
            let mut m = f32::NEG_INFINITY;
            let mut sum = 0.0f32;
            for j in lo..=p {
                let kj = &k[j * kv_dim + g * hd..j * kv_dim + (g + 1) * hd];
                let score = dot(qh, kj) * s.scale;
                let vj = &v[j * kv_dim + g * hd..j * kv_dim + (g + 1) * hd];
                if score > m {
                    // New maximum: rescale what was accumulated under the old one.
                    let r = (m - score).exp();
                    sum *= r;
                    for a in acc.iter_mut() {
                        *a *= r;
                    }
                    m = score;
                }
                let w = (score - m).exp();
                sum += w;
                for (a, &x) in acc.iter_mut().zip(vj) {
                    *a += w * x;
                }
            }
            let inv = 1.0 / sum;
            for a in acc.iter_mut() {
                *a *= inv;
            }
        }
    });
}

/// f32 dot product with 8 independent accumulators so the compiler can vectorize it.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Materialized scores and a three-pass softmax: the textbook definition.
    #[allow(clippy::too_many_arguments)]
    fn naive(s: &AttnShape, q: &[f32], k: &[f32], v: &[f32], n: usize, pos0: usize) -> Vec<f32> {
        let hd = s.head_dim;
        let kv_dim = s.n_head_kv * hd;
        let mut out = vec![0.0; n * s.n_head * hd];
        for t in 0..n {
            for h in 0..s.n_head {
                let g = h / (s.n_head / s.n_head_kv);
                let p = pos0 + t;
                let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w));
                let qh = &q[(t * s.n_head + h) * hd..][..hd];
                let scores: Vec<f64> = (lo..=p)
                    .map(|j| qh.iter().zip(&k[j * kv_dim + g * hd..][..hd]).map(|(a, b)| (a * b) as f64).sum::<f64>() * s.scale as f64)
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..hd {
                    let val: f64 = (lo..=p).zip(&e).map(|(j, w)| w * v[j * kv_dim + g * hd + d] as f64).sum();
                    out[(t * s.n_head + h) * hd + d] = (val / z) as f32;
                }
            }
        }
        out
    }

    fn rand_vec(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn both_attentions_equal_naive_attention() {
        let pool = ThreadPool::new(2);
        let mut seed = 7;
        for &(n_head, n_head_kv, hd, n, pos0, window) in &[
            (4, 2, 64, 5, 0, None),
            (8, 1, 128, 3, 40, None),
            (2, 2, 256, 7, 10, Some(4)),
            (6, 3, 96, 1, 100, Some(33)),
        ] {
            let s = AttnShape { n_head, n_head_kv, head_dim: hd, scale: 1.0 / (hd as f32).sqrt(), window, batch_order: true };
            let n_ctx = pos0 + n;
            let q = rand_vec(n * n_head * hd, &mut seed);
            let k: Vec<f32> = rand_vec(n_ctx * n_head_kv * hd, &mut seed).iter().map(|x| x * 3.0).collect();
            let v = rand_vec(n_ctx * n_head_kv * hd, &mut seed);
            let want = naive(&s, &q, &k, &v, n, pos0);
            let mut out = vec![0.0; n * n_head * hd];
            attention_online(&pool, &s, &q, &k, &v, n, pos0, &mut out);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "online {i}: {a} vs {b}");
            }
            let mut scratch = vec![0.0; 2 * scratch_per_thread(n_ctx, hd)];
            attention(&pool, &s, &q, &k, &v, n, pos0, &mut out, &mut scratch);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "exact {i}: {a} vs {b}");
            }
        }
    }
}
