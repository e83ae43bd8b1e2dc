//! Read bandwidth of this machine with N threads (default 2), for the decode roofline: each
//! thread sums its part of a 1 GiB buffer, read as one sequential stream and as four far-apart
//! streams round-robin in 256-byte pieces (as the decode tiles read; on the Xeon VM of
//! 2026-12-03 one stream got 14-16 GB/s and four 19-24). The best pass of either, in GB/s.
//! `cargo run --release -p engine --example membw -- [THREADS]`
use engine::pool::ThreadPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Sum of `part` read as `streams` equal sub-ranges, 32 words (256 bytes) of each in turn.
fn sum_streams(part: &[u64], streams: usize) -> u64 {
    let len = part.len() / streams / 32 * 32;
    // Four independent accumulators so the loop is bound by loads, not by adds.
    let mut acc = [0u64; 4];
    for off in (0..len).step_by(32) {
        for s in 0..streams {
            for c in part[s * len + off..s * len + off + 32].chunks_exact(4) {
                for i in 0..4 {
                    acc[i] = acc[i].wrapping_add(c[i]);
                }
            }
        }
    }
    acc.iter().fold(0, |x, y| x.wrapping_add(*y))
}

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(2, |s| s.parse().expect("thread count"));
    let n = (1usize << 30) / 8;
    let buf: Vec<u64> = (0..n as u64).collect();
    let pool = ThreadPool::new(threads);
    let sums: Vec<AtomicU64> = (0..threads).map(|_| Default::default()).collect();
    let mut best = [0f64; 2];
    for _ in 0..5 {
        for (k, streams) in [1, 4].into_iter().enumerate() {
            let t = Instant::now();
            pool.parallel_for(n, n.div_ceil(threads), &|a, b| {
                sums[a * threads / n].fetch_add(sum_streams(&buf[a..b], streams), Ordering::Relaxed);
            });
            best[k] = best[k].max((n * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
        }
    }
    let check: u64 = sums.iter().map(|s| s.load(Ordering::Relaxed)).fold(0, u64::wrapping_add);
    let bw = best[0].max(best[1]);
    println!("{bw:.1}");
    eprintln!("read bandwidth with {threads} threads: {bw:.1} GB/s (one stream per thread {:.1}, four {:.1}; checksum {check})", best[0], best[1]);
}
