//! Causal attention over the KV cache with a single-pass (online) softmax.
//!
//! For each query the keys are visited once: a running maximum `m`, a running sum `s` of
//! `exp(score - m)` and a running `exp`-weighted sum of V rows, rescaled whenever `m` grows
//! (as in FlashAttention). No score matrix and no second pass. Work is split over
//! (token, head) pairs; each pair writes its own output row.

use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;

/// Shapes and options of one attention call.
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Multiplier applied to q·k.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys in (p - window, p].
    pub window: Option<usize>,
}

/// `out[t][h] = softmax(q[t][h] · K[0..=p]ᵀ · scale) · V[0..=p]` for p = pos0 + t.
/// `q` and `out` are `[n][n_head * head_dim]`; `k` and `v` are the layer's cache `[n_ctx][kv_dim]`.
pub fn attention(pool: &ThreadPool, s: &AttnShape, q: &[f32], k: &[f32], v: &[f32], n: usize, pos0: usize, out: &mut [f32]) {
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
    fn online_softmax_equals_naive_attention() {
        let pool = ThreadPool::new(2);
        let mut seed = 7;
        for &(n_head, n_head_kv, hd, n, pos0, window) in &[
            (4, 2, 64, 5, 0, None),
            (8, 1, 128, 3, 40, None),
            (2, 2, 256, 7, 10, Some(4)),
            (6, 3, 96, 1, 100, Some(33)),
        ] {
            let s = AttnShape { n_head, n_head_kv, head_dim: hd, scale: 1.0 / (hd as f32).sqrt(), window };
            let n_ctx = pos0 + n;
            let q = rand_vec(n * n_head * hd, &mut seed);
            let k: Vec<f32> = rand_vec(n_ctx * n_head_kv * hd, &mut seed).iter().map(|x| x * 3.0).collect();
            let v = rand_vec(n_ctx * n_head_kv * hd, &mut seed);
            let mut out = vec![0.0; n * n_head * hd];
            attention(&pool, &s, &q, &k, &v, n, pos0, &mut out);
            let want = naive(&s, &q, &k, &v, n, pos0);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{i}: {a} vs {b}");
            }
        }
    }
}
