//! Matrix-vector (decode) throughput of one weight tensor of a real model, through the
//! engine's matmul and thread pool: GB/s of weight bytes read, to set against `membw`.
//! `cargo run --release -p engine --example gemv -- MODEL.gguf TENSOR [THREADS] [N_TOKENS]`
use engine::matmul::{act_bytes, Matmul, MatmulMode};
use engine::pool::ThreadPool;
use engine::weights::Loader;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (path, name) = (&a[1], &a[2]);
    let threads: usize = a.get(3).map_or(2, |s| s.parse().expect("threads"));
    let n: usize = a.get(4).map_or(1, |s| s.parse().expect("tokens"));
    let file = gguf::GgufFile::open(path).expect("open model");
    let info = file.tensor(name).expect("tensor");
    let (cols, rows) = (info.dims[0] as usize, info.dims[1] as usize);
    let w = Loader { file: &file }.matrix(name, cols, rows).expect("matrix");
    let pool = ThreadPool::new(threads);
    let x: Vec<f32> = (0..n * cols).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0).collect();
    let mut out = vec![0f32; n * rows];
    let mut act = vec![0u8; act_bytes(cols, n)];
    // VIBRANT_GEMV_COPY=1: the whole file copied into anonymous memory, to compare with the map.
    let copy = std::env::var("VIBRANT_GEMV_COPY").is_ok_and(|v| v == "1");
    let owned: Vec<u8> = if copy { file.bytes().to_vec() } else { Vec::new() };
    let fb: &[u8] = if copy { &owned } else { file.bytes() };
    let bytes = w.bytes(fb).len();
    let mut best = f64::MAX;
    let reps = (2_000_000_000 / bytes).clamp(3, 2000);
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            Matmul { pool: &pool, file: fb, mode: MatmulMode::Fast, act: &mut act }.run(&w, &x, n, &mut out);
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    println!(
        "{name} {:?} [{rows} x {cols}] x {n} tokens, {threads} threads: {:.1} us, {:.2} GB/s of weights",
        w.ty,
        best * 1e6,
        bytes as f64 / best / 1e9
    );
}
