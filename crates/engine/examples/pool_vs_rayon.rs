//! Fork-join cost of the engine's thread pool against rayon's, on the shape decoding has:
//! many short parallel regions in a row (a small model runs ~150 per token), each split into
//! 16 chunks of a few microseconds of work. Prints microseconds per region for each pool.
//! `cargo run --release -p engine --example pool_vs_rayon -- [THREADS] [WORK_PER_CHUNK]`
use engine::pool::ThreadPool;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// About `n` dependent multiply-adds: stands in for one chunk of a matrix-vector product.
fn work(seed: u64, n: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    }
    x
}

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(2, |s| s.parse().expect("threads"));
    let per_chunk: u64 = std::env::args().nth(2).map_or(2000, |s| s.parse().expect("work"));
    const CHUNKS: usize = 16;
    const REGIONS: usize = 20_000;
    let sink = AtomicU64::new(0);

    let pool = ThreadPool::new(threads);
    let rayon_pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool");
    // One chunk run serially: the work itself, so the overhead per region can be read off.
    let t = Instant::now();
    for r in 0..REGIONS {
        for c in 0..CHUNKS {
            sink.fetch_add(work((r * CHUNKS + c) as u64, per_chunk), Relaxed);
        }
    }
    let serial = t.elapsed().as_secs_f64() / REGIONS as f64 * 1e6;
    for round in 0..2 {
        let t = Instant::now();
        for r in 0..REGIONS {
            pool.parallel_for(CHUNKS, 1, &|c0, c1| {
                for c in c0..c1 {
                    sink.fetch_add(work((r * CHUNKS + c) as u64, per_chunk), Relaxed);
                }
            });
        }
        let ours = t.elapsed().as_secs_f64() / REGIONS as f64 * 1e6;
        let t = Instant::now();
        rayon_pool.install(|| {
            for r in 0..REGIONS {
                (0..CHUNKS).into_par_iter().with_max_len(1).for_each(|c| {
                    sink.fetch_add(work((r * CHUNKS + c) as u64, per_chunk), Relaxed);
                });
            }
        });
        let theirs = t.elapsed().as_secs_f64() / REGIONS as f64 * 1e6;
        println!(
            "round {round}: {threads} threads, {CHUNKS} chunks of {per_chunk} steps: serial {serial:.2} us, \
             vibrant pool {ours:.2} us, rayon {theirs:.2} us per region (ideal {:.2})",
            serial / threads as f64
        );
    }
    eprintln!("checksum {}", sink.load(Relaxed));
}
