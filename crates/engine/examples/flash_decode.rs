//! Decode-attention throughput at depth: one token's flash attention over `LAYERS` layers of a
//! cache `DEPTH` positions deep (SmolLM2's shape by default: 9 heads, 3 KV heads, head_dim 64,
//! F16 K and V, or CACHE_TYPE=f32|q8_0), cycling through the layers as a forward pass does, so
//! the cache streams from memory as it does in `vibrant bench -d`. Prints the best of REPS (default 10) passes and the
//! GB/s of cache bytes read.
//! `cargo run --release -p engine --example flash_decode -- [DEPTH] [THREADS] [N_HEAD N_HEAD_KV HEAD_DIM] [LAYERS]`
use engine::attention::AttnShape;
use engine::kv_cache::{KvCache, KvShape, KvType};
use engine::pool::ThreadPool;
use std::time::Instant;

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("a number")).collect();
    let depth = a.first().copied().unwrap_or(4096);
    let threads = a.get(1).copied().unwrap_or(2);
    let (n_head, n_head_kv, hd) = (a.get(2).copied().unwrap_or(9), a.get(3).copied().unwrap_or(3), a.get(4).copied().unwrap_or(64));
    let layers = a.get(5).copied().unwrap_or(30);
    let n_ctx = depth + 1;
    let ty = KvType::from_name(&std::env::var("CACHE_TYPE").unwrap_or("f16".into())).expect("f32, f16 or q8_0");
    let shape = KvShape { n_ctx, n_batch: 512, n_head_kv, head_dim: hd, type_k: ty, type_v: ty, swa_full: false };
    let mut kv = KvCache::new(shape, &vec![None; layers]).expect("cache");
    let d = n_head_kv * hd;
    for il in 0..layers {
        let mut p = 0;
        while p < n_ctx {
            let m = 512.min(n_ctx - p);
            let (k, v) = kv.rows_mut(il, p, m);
            for (i, x) in k.iter_mut().enumerate() {
                *x = ((i * 7919 + il) % 1000) as f32 / 300.0 - 1.5;
            }
            for (i, x) in v.iter_mut().enumerate() {
                *x = ((i * 104729 + il) % 1000) as f32 / 500.0 - 1.0;
            }
            kv.commit(il, p, m);
            p += m;
        }
    }
    let s = AttnShape { n_head, n_head_kv, head_dim: hd, scale: 1.0 / (hd as f32).sqrt(), window: None, batch_order: false, flash: true };
    let pool = ThreadPool::new(threads);
    let q: Vec<f32> = (0..n_head * hd).map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5).collect();
    let mut out = vec![0f32; n_head * hd];
    let mut scratch = vec![0f32; engine::flash::scratch_len(n_ctx, n_head, n_head_kv, hd, threads)];
    let bytes = (layers * n_ctx * ty.row_bytes(d) * 2) as f64;
    let mut best = f64::MAX;
    for _ in 0..std::env::var("REPS").map_or(10, |s| s.parse().expect("REPS")) {
        let t = Instant::now();
        for il in 0..layers {
            engine::flash::attention(&pool, &s, &q, &kv.layer(il), 1, depth, &mut out, &mut scratch);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("depth {depth}, {layers} layers, {n_head}/{n_head_kv} heads x {hd}, {threads} threads: {:.3} ms per token, {:.1} GB/s of cache", best * 1e3, bytes / best / 1e9);
}
