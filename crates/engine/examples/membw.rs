//! Read bandwidth of this machine with N threads (default 2), for the decode roofline:
//! each thread sums its part of a 1 GiB buffer; best of 5 passes, in GB/s.
//! `cargo run --release -p engine --example membw -- [THREADS]`
use engine::pool::ThreadPool;
use std::time::Instant;

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(2, |s| s.parse().expect("thread count"));
    let n = (1usize << 30) / 8;
    let buf: Vec<u64> = (0..n as u64).collect();
    let pool = ThreadPool::new(threads);
    let sums: Vec<std::sync::atomic::AtomicU64> = (0..threads).map(|_| Default::default()).collect();
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        pool.parallel_for(n, n.div_ceil(threads), &|a, b| {
            // Four independent accumulators so the loop is bound by loads, not by adds.
            let mut acc = [0u64; 4];
            for c in buf[a..b].chunks_exact(4) {
                for i in 0..4 {
                    acc[i] = acc[i].wrapping_add(c[i]);
                }
            }
            sums[a * threads / n].fetch_add(acc.iter().fold(0, |x, y| x.wrapping_add(*y)), std::sync::atomic::Ordering::Relaxed);
        });
        best = best.max((n * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    let check: u64 = sums.iter().map(|s| s.load(std::sync::atomic::Ordering::Relaxed)).fold(0, u64::wrapping_add);
    println!("{best:.1}");
    eprintln!("read bandwidth with {threads} threads: {best:.1} GB/s (checksum {check})");
}
