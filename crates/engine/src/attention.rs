//! Causal attention over the KV cache, computed as llama.cpp computes it without flash
//! attention, so the logits are the same: scores by ggml's f32 dot product, softmax with
//! ggml's vectorized `exp` and summation order, and the weighted sum of V rows with ggml's
//! accumulator layout ([`quant::emulate`] documents why the order matters).
//!
//! Per (token, head) task: one pass computes the scores into a per-thread row, one pass
//! exponentiates and sums them, and one pass accumulates V. No score matrix beyond one row per
//! thread, no transposed copies: K and V are read in place from the cache. Work is split over
//! (token, head) pairs; each pair writes its own output row. This stays the path for an
//! F32/F32 cache and `--flash-attn off`; the blockwise online-softmax path is [`crate::flash`]
//! (selected by [`AttnShape::flash`]); [`attention_online`] is a scalar sketch used by a test.

use crate::kv_cache::{KvType, LayerKv};
use crate::ops::{fwht_blocks, vexpf};
use crate::parallel::DisjointMut;
use crate::pool::ThreadPool;
use gguf::GgmlType;
use half::f16;
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
    /// Compute with [`crate::flash`] (blockwise online softmax) instead of the exact path.
    pub flash: bool,
}

/// f32 scratch the exact attention needs per thread: one score row, 32 V accumulators, and
/// three head-sized rows (the query in the K type, and one dequantized V row).
pub fn scratch_per_thread(n_ctx: usize, head_dim: usize) -> usize {
    n_ctx.next_multiple_of(32) + 35 * head_dim
}

/// `out[t][h] = softmax(q[t][h] · K[lo..=p]ᵀ · scale) · V[lo..=p]` for p = pos0 + t, lo the
/// first position p's window and the cache hold. `q` and `out` are `[n][n_head * head_dim]`;
/// `kv` is the layer's cache; `scratch` holds [`scratch_per_thread`] floats for each pool thread
/// (with `s.flash`: [`crate::flash::scratch_len`] floats, and the flash path computes it).
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    s: &AttnShape,
    q: &[f32],
    kv: &LayerKv,
    n: usize,
    pos0: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) {
    if s.flash {
        return crate::flash::attention(pool, s, q, kv, n, pos0, out, scratch);
    }
    let hd = s.head_dim;
    let dq = s.n_head * hd;
    let per_thread = scratch_per_thread(kv.n_ctx, hd);
    assert!(scratch.len() >= per_thread * pool.n_threads(), "attention scratch too small");
    assert!(pos0 + n <= kv.n_ctx, "positions past the context");
    let out = DisjointMut::new(&mut out[..n * dq]);
    let scratch = DisjointMut::new(scratch);
    let next = AtomicUsize::new(0);
    pool.run(&|tid, _| {
        // SAFETY: each thread uses only its own slice of the scratch.
        let mine = unsafe { scratch.range(tid * per_thread..(tid + 1) * per_thread) };
        let (scores, rest) = mine.split_at_mut(kv.n_ctx.next_multiple_of(32));
        let (acc, rest) = rest.split_at_mut(32 * hd);
        let (qx, vrow) = rest.split_at_mut(2 * hd);
        let mut rows = Rows { scores, acc, qx, vrow: &mut vrow[..hd] };
        loop {
            let i = next.fetch_add(1, Relaxed);
            if i >= n * s.n_head {
                break;
            }
            let (t, h) = (i / s.n_head, i % s.n_head);
            // SAFETY: output row (t, h) is written only by the thread that claimed index i.
            let o = unsafe { out.range(t * dq + h * hd..t * dq + (h + 1) * hd) };
            attend_one(s, &q[t * dq + h * hd..][..hd], kv, pos0 + t, h, n > 1 && s.batch_order, &mut rows, o);
        }
    });
}

/// One thread's scratch rows.
struct Rows<'a> {
    /// Scores then probabilities, indexed by position.
    scores: &'a mut [f32],
    /// 32 V accumulator rows.
    acc: &'a mut [f32],
    /// The query copied (and rotated) as f32, then converted to the K type: 2 * head_dim floats.
    qx: &'a mut [f32],
    /// One V row dequantized.
    vrow: &'a mut [f32],
}

/// One query row against keys `lo..=p`, as ggml's mul_mat + soft_max + mul_mat compute it
/// without flash attention. `batch`: llama.cpp multiplies with tinyBLAS (one 8-lane
/// accumulator per output) when several tokens are processed together, and with
/// `ggml_vec_dot_*` (four 8-lane accumulators) for a single token; we follow it so a prompt
/// batch and each decode step give its exact values.
///
/// K·q with the K type's dot product, q converted to its partner type first, as ggml's mul_mat
/// converts src1 (F32: `ggml_vec_dot_f32`; F16: q rounded to f16, `ggml_vec_dot_f16` or
/// tinyBLAS F16 for batches; Q8_0: q quantized to Q8_0, `ggml_vec_dot_q8_0_q8_0`, which
/// tinyBLAS's Q8_0 kernel equals). V rows the same way: F16 V multiplies the probabilities
/// rounded to f16 (ggml converts them to V's `vec_dot_type`). llama.cpp has no Q8_0 V without
/// flash attention; ours dequantizes each V row and multiplies it with the f32 probabilities.
#[allow(clippy::too_many_arguments)]
/// `scores[j] = exp(scores[j] - max)` for j in lo..=p, returning their sum. As ggml's
/// vectorized softmax sees the row: groups of 8 cells aligned to cell 0 (masked cells are
/// exact zeros there); each group's horizontal sum is added in f64.
fn exp_cells(scores: &mut [f32], lo: usize, p: usize, max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA (checked just above).
        return unsafe { exp_cells_fma(scores, lo, p, max) };
    }
    exp_cells_body(scores, lo, p, max)
}

/// [`exp_cells`] compiled with FMA: `vexpf`'s `mul_add`s become instructions instead of libm
/// `fmaf` calls (same values: both are exact fused multiply-adds).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn exp_cells_fma(scores: &mut [f32], lo: usize, p: usize, max: f32) -> f64 {
    exp_cells_body(scores, lo, p, max)
}

#[inline(always)]
fn exp_cells_body(scores: &mut [f32], lo: usize, p: usize, max: f32) -> f64 {
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
    sum
}

fn attend_one(s: &AttnShape, qh: &[f32], kv: &LayerKv, p: usize, h: usize, batch: bool, r: &mut Rows, out: &mut [f32]) {
    let hd = s.head_dim;
    let g = h / (s.n_head / s.n_head_kv);
    let lo = s.window.map_or(0, |w| (p + 1).saturating_sub(w)).max(kv.first_pos);
    let kern = quant::kernels::kernels();
    let scores = &mut *r.scores;
    let mut max = f32::NEG_INFINITY;
    match kv.type_k {
        KvType::F32 => {
            for j in lo..=p {
                let sc = (kern.dot_f32)(kv.k_f32(j, g), qh) * s.scale;
                scores[j] = sc;
                max = if max > sc { max } else { sc };
            }
        }
        ty => {
            let (qf, qb) = r.qx.split_at_mut(hd);
            qf.copy_from_slice(qh);
            if kv.rot_k > 0 {
                fwht_blocks(qf, kv.rot_k);
            }
            let qb = &mut bytemuck::cast_slice_mut::<f32, u8>(qb)[..ty.row_bytes(hd)];
            kern.quantize_row(ty.ggml(), qf, qb);
            let tinyblas = if batch && ty == KvType::F16 { kern.batch(GgmlType::F16).tinyblas } else { None };
            let vec_dot = kern.get(ty.ggml()).vec_dot;
            for j in lo..=p {
                let kj = kv.k_bytes(j, g);
                let dot = match tinyblas {
                    Some(gemm) => {
                        let mut o = [0f32];
                        gemm(hd, kj, 1, qb, 1, &mut o, 1);
                        o[0]
                    }
                    None => vec_dot(hd, kj, qb),
                };
                let sc = dot * s.scale;
                scores[j] = sc;
                max = if max > sc { max } else { sc };
            }
        }
    }
    let sum = exp_cells(scores, lo, p, max);
    let inv = (1.0 / sum) as f32;
    // V accumulation: cell j goes to accumulator row j % rows (8 for tinyBLAS, 32 for
    // ggml_vec_dot's four 8-lane registers), then the rows are reduced in ggml's order.
    let rows = if batch { 8 } else { 32 };
    let acc = &mut r.acc[..rows * hd];
    acc.fill(0.0);
    match kv.type_v {
        KvType::F32 => {
            for j in lo..=p {
                let w = scores[j] * inv;
                (kern.fma_row)(&mut acc[(j % rows) * hd..][..hd], kv.v_f32(j, g), w);
            }
        }
        ty => {
            let dequantize = kern.get(ty.ggml()).dequantize_row;
            for j in lo..=p {
                let w = scores[j] * inv;
                let w = if ty == KvType::F16 { f16::from_f32(w).to_f32() } else { w };
                dequantize(kv.v_bytes(j, g), r.vrow);
                (kern.fma_row)(&mut acc[(j % rows) * hd..][..hd], r.vrow, w);
            }
        }
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
    if kv.rot_v > 0 {
        // V rows are stored rotated; rotate the weighted sum back (llama.cpp rotates kqv_out).
        fwht_blocks(out, kv.rot_v);
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
            let s = AttnShape { n_head, n_head_kv, head_dim: hd, scale: 1.0 / (hd as f32).sqrt(), window, batch_order: true, flash: false };
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
            attention(&pool, &s, &q, &LayerKv::from_f32(&k, &v, n_head_kv, hd), n, pos0, &mut out, &mut scratch);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "exact {i}: {a} vs {b}");
            }
        }
    }
}
